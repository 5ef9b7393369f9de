"""A model's networks as the browser runs them (ui/components/web/lib/net.js): one serialiser
for the decoder (the Latent map's picture of a click, the drawing pad's reconstruction) and
the encoder (the drawing pad's live posterior), packed once per model.

An op is a dict the browser reads, with its arrays in order:
- {"op": "linear", "in", "out"}: W (out, in), b (out,);
- {"op": "conv2d", "cin", "cout", "k", "stride", "pad"}: W (cout, cin, k, k), b (cout,);
- {"op": "conv_transpose", "cin", "cout", "k", "stride", "pad"}: W (cin, cout, k, k), b;
- {"op": "silu"}, {"op": "unflatten", "shape": [C, H, W]}, {"op": "flatten"};
- an imported model's chain (vae/foreign/layers.py) adds the elementwise "relu", "tanh",
  "sigmoid", "softplus", "leaky_relu" (alpha) and "affine" (scale, shift).
That covers both architectures of vae.model; a network with any other layer stays on the
server (None).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ui.components.sending import PerObject
from vae import VAE

# Above this many weights (8 MB of float32) a network stays on the server: a new session
# (every student of a class) or a model switch sends them all. The defaults are well below
# (MLP 0.53M, conv 0.84M).
MAX_BROWSER_WEIGHTS = 2_000_000

Ops = list[tuple[dict, list[np.ndarray]]]


def _leaves(module: nn.Module) -> list[nn.Module]:
    """The leaf layers of nested Sequentials, in order (the MLP encoder is Sequential(mlp, SiLU);
    the conv networks keep their layers in .net)."""
    module = getattr(module, "net", module)
    if isinstance(module, nn.Sequential):
        return [leaf for m in module for leaf in _leaves(m)]
    return [module]


def _square(m: nn.Module) -> bool:
    """A convolution the browser runs: one group, no dilation, square kernel/stride/padding."""
    k, s, p = m.kernel_size, m.stride, m.padding
    return (
        m.bias is not None
        and m.groups == 1
        and m.dilation == (1, 1)
        and isinstance(p, tuple)
        and k[0] == k[1]
        and s[0] == s[1]
        and p[0] == p[1]
    )


def layer_ops(layers: list[nn.Module]) -> Ops | None:
    """[(op, its arrays)] of these layers in order; None if one is not a layer the browser runs."""

    def arrays(module: nn.Module) -> list[np.ndarray]:
        return [p.detach().float().cpu().numpy() for p in (module.weight, module.bias)]

    def conv(kind: str, m: nn.Module) -> tuple[dict, list[np.ndarray]]:
        op = {"op": kind, "cin": m.in_channels, "cout": m.out_channels,
              "k": m.kernel_size[0], "stride": m.stride[0], "pad": m.padding[0]}  # fmt: skip
        return op, arrays(m)

    ops: Ops = []
    for m in layers:
        if isinstance(m, nn.Linear) and m.bias is not None:
            ops.append(({"op": "linear", "in": m.in_features, "out": m.out_features}, arrays(m)))
        elif isinstance(m, nn.SiLU):
            ops.append(({"op": "silu"}, []))
        elif isinstance(m, nn.ReLU):  # the 3-D page's toy models (vae/recipes.py)
            ops.append(({"op": "relu"}, []))
        elif isinstance(m, nn.Unflatten) and m.dim == 1:
            ops.append(({"op": "unflatten", "shape": list(m.unflattened_size)}, []))
        elif isinstance(m, nn.Flatten) and m.start_dim == 1:
            ops.append(({"op": "flatten"}, []))
        elif isinstance(m, nn.Conv2d) and m.padding_mode == "zeros" and _square(m):
            ops.append(conv("conv2d", m))
        elif isinstance(m, nn.ConvTranspose2d) and m.output_padding == (0, 0) and _square(m):
            ops.append(conv("conv_transpose", m))
        else:
            return None  # some other layer: the browser could not run it faithfully
    return ops


def decoder_ops(model: VAE) -> Ops | None:
    """The decoder, z -> the likelihood's parameters (logits for a Bernoulli one)."""
    if getattr(model, "is_foreign", False):
        return model.decoder_chain()
    return layer_ops(_leaves(model.decoder))


def encoder_ops(model: VAE) -> Ops | None:
    """The encoder's body and head, x -> [mu, raw log sigma^2] (see posterior_bound)."""
    if getattr(model, "is_foreign", False):
        return None  # an imported encoder is an ONNX graph, not a chain
    return layer_ops([*_leaves(model.encoder_body), model.encoder_head])


@torch.no_grad()
def posterior_bound(model: VAE) -> dict | None:
    """How VAE.encode turns the head's log σ² into the one it returns, as the browser applies it.

    Read off the model itself rather than assumed: the head's output is replaced by a sweep
    of raw values and encode's answer compared with each transform the browser knows:
    {"kind": "identity"}, {"kind": "clamp", "max": b} (min(t, b)) and {"kind": "softclamp",
    "max": b} (b - softplus(b - t)), b = 2 log max_posterior_sigma (config, when present).
    None when none matches: the encoder then runs on the server.
    """
    k = model.config.latent_dim
    raw = torch.linspace(-30.0, 30.0, 121, dtype=torch.float32)
    head_out = torch.zeros(len(raw), 2 * k)
    head_out[:, k:] = raw[:, None]
    hook = model.encoder_head.register_forward_hook(lambda *_: head_out.to(model.device))
    try:
        probe = torch.zeros(len(raw), model.config.input_dim, device=model.device)
        _, logvar = model.encode(probe)
    finally:
        hook.remove()
    got = logvar.float().cpu()[:, 0]
    candidates = [{"kind": "identity"}]
    max_sigma = getattr(model.config, "max_posterior_sigma", None)
    if isinstance(max_sigma, (int, float)) and max_sigma > 0:
        bound = 2 * float(np.log(max_sigma))
        candidates += [{"kind": "clamp", "max": bound}, {"kind": "softclamp", "max": bound}]
    for candidate in candidates:
        if torch.allclose(got, _apply_bound(raw, candidate), rtol=1e-5, atol=1e-5):
            return candidate
    return None


def _apply_bound(raw: torch.Tensor, bound: dict) -> torch.Tensor:
    if bound["kind"] == "clamp":
        return raw.clamp(max=bound["max"])
    if bound["kind"] == "softclamp":
        return bound["max"] - nn.functional.softplus(bound["max"] - raw)
    return raw


@dataclass(frozen=True)
class BrowserNet:
    """A network ready to send: its ops (JSON-able), every array as one float32 array, an id."""

    id: str  # 16 hex digits of sha256(ops JSON + floats): the browser's cache key
    ops: list[dict]
    floats: np.ndarray  # (count,) float32, read-only: the ops' arrays in order
    posterior: dict | None = None  # an encoder's bound on log σ² (posterior_bound)

    @property
    def count(self) -> int:
        return self.floats.size

    def header(self, with_weights: bool) -> dict:
        """What a payload says of it; its floats go as an array when with_weights."""
        head = {"id": self.id, "weights": with_weights, "ops": self.ops}
        return head if self.posterior is None else {**head, "posterior": self.posterior}


def pack(ops: Ops, posterior: dict | None = None) -> BrowserNet:
    """[(op, its arrays)] -> the JSON ops, one float32 array, a content id."""
    header = [op for op, _ in ops]
    arrays = [np.asarray(a, dtype=np.float32).ravel() for _, arrays in ops for a in arrays]
    floats = np.concatenate(arrays) if arrays else np.zeros(0, np.float32)
    floats.setflags(write=False)
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode() + floats.tobytes())
    return BrowserNet(digest.hexdigest()[:16], header, floats, posterior)


def _versions(params) -> tuple[int, ...]:
    # A model is not expected to change once shown, but if its parameters are written in place
    # (an optimizer step, load_state_dict) torch bumps their version counters, and the network
    # is read again: the browser would otherwise run a stale one. (Tensors made under
    # torch.inference_mode keep no version counter: -1 for those.)
    return tuple(-1 if p.is_inference() else p._version for p in params)


def _small(net: BrowserNet | None) -> BrowserNet | None:
    return net if net is not None and net.count <= MAX_BROWSER_WEIGHTS else None


def _decoder(model: VAE) -> BrowserNet | None:
    ops = decoder_ops(model)
    return _small(pack(ops)) if ops is not None else None


def _encoder(model: VAE) -> BrowserNet | None:
    ops = encoder_ops(model)
    bound = posterior_bound(model) if ops is not None else None
    return _small(pack(ops, bound)) if bound is not None else None


def _encoder_params(model: VAE):
    return [*model.encoder_body.parameters(), *model.encoder_head.parameters()]


# Once per model object: models are shared read-only by every session (a saved one via
# st.cache_resource), and a weak key lets a dropped model take its arrays with it.
# None: the browser cannot run the network, or it is too big to send.
browser_decoder = PerObject(_decoder, lambda m: _versions(m.decoder.parameters()))
browser_encoder = PerObject(_encoder, lambda m: _versions(_encoder_params(m)))

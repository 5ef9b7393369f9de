"""The decoder in the browser: a click on the latent map shows its picture with no round trip.

A click's server round trip (fragment rerun, elements, image fetch) on a page as big as the
latent map costs 2-4x Streamlit's bare button -> image round trip, however small the fragment
(measured: bench/click_latency.py). The decoder is small (2 -> ... -> D), so its weights go to
the browser, in a component outside the map's fragment; ui/components/map_layer.js tells it the clicked
z and it draws E[x|z] itself, the same picture ui/latent_images.to_image makes. The fragment's
rerun still brings the rest of the panel (the example's original, the decodes of
mu + sigma * eps, the numbers).

The weights (200 KB for the quick-start digits model, 2.1 MB for the default MNIST MLP) go
once per browser session and model, not with every full run of the page: the browser keeps
them by a content id (ui/components/map_decoder.js), the session remembers which ids it has sent, and
later runs send only the small header (the clicked z, the image shape). Should the browser
not have them after all (its cache dropped them, a run's message was lost), it asks, and the
next run sends them again. (Streamlit's own message cache does not cover this: the
payload's bytes change with every click's z, and its cache forgets an element after a few
runs without it, e.g. a visit to another page.)
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import streamlit as st
from torch import nn

from ui.components.component_js import component_js
from ui.latent_images import DISPLAY_PIXELS
from ui.session_keys import DECODERS_SENT_KEY
from vae import VAE

# Above this many weights (8 MB of float32) the decoder stays on the server: a new session
# (every student of a class) or a model switch sends them all. The defaults are well below
# (MLP 0.53M, conv 0.84M).
MAX_BROWSER_WEIGHTS = 2_000_000


_JS = component_js("map_decoder.js")
_mount = st.components.v2.component("vae_explorer_map_decoder", js=_JS, isolate_styles=False)


def decoder_ops(model: VAE) -> list[tuple[dict, list[np.ndarray]]] | None:
    """The decoder as the browser runs it: [(op, its arrays)], in order; None if it cannot.

    ops: {"op": "linear", "in", "out"} with W (out, in) and b (out,); {"op": "silu" | "relu"};
    {"op": "unflatten", "shape": [C, H, W]}; {"op": "conv_transpose", "cin", "cout", "k",
    "stride", "pad"} with W (cin, cout, k, k) and b (cout,); {"op": "flatten"}. That covers
    both decoders of vae.model (the MLP and the conv one). A foreign model's graph comes as
    its own chain of layers when it is one (vae/foreign/layers.py: linear and elementwise
    activations {"op": "relu" | "tanh" | "sigmoid" | "softplus" | "leaky_relu" | "affine"});
    anything else stays on the server.
    """
    if getattr(model, "is_foreign", False):
        return model.decoder_chain()
    net = model.decoder
    net = getattr(net, "net", net)  # _ConvDecoder keeps its layers in .net
    if not isinstance(net, nn.Sequential):
        return None

    def arrays(module: nn.Module) -> list[np.ndarray]:
        return [p.detach().float().cpu().numpy() for p in (module.weight, module.bias)]

    ops: list[tuple[dict, list[np.ndarray]]] = []
    for m in net:
        if isinstance(m, nn.Linear) and m.bias is not None:
            ops.append(({"op": "linear", "in": m.in_features, "out": m.out_features}, arrays(m)))
        elif isinstance(m, nn.SiLU):
            ops.append(({"op": "silu"}, []))
        elif isinstance(m, nn.ReLU):  # the 3-D page's toy models (vae/recipes.py)
            ops.append(({"op": "relu"}, []))
        elif isinstance(m, nn.Unflatten) and m.dim == 1:
            ops.append(({"op": "unflatten", "shape": list(m.unflattened_size)}, []))
        elif (
            isinstance(m, nn.ConvTranspose2d)
            and m.bias is not None
            and m.groups == 1
            and m.dilation == (1, 1)
            and m.output_padding == (0, 0)
            and m.kernel_size[0] == m.kernel_size[1]
            and m.stride[0] == m.stride[1]
            and m.padding[0] == m.padding[1]
        ):
            op = {"op": "conv_transpose", "cin": m.in_channels, "cout": m.out_channels,
                  "k": m.kernel_size[0], "stride": m.stride[0], "pad": m.padding[0]}  # fmt: skip
            ops.append((op, arrays(m)))
        elif isinstance(m, nn.Flatten) and m.start_dim == 1:
            ops.append(({"op": "flatten"}, []))
        else:
            return None  # some other layer: the browser could not run it faithfully
    return ops


@dataclass(frozen=True)
class BrowserWeights:
    """A decoder ready to send: its ops (JSON-able), every array as float32 bytes, a content id."""

    id: str  # 16 hex digits of sha256(ops JSON + floats): the browser's cache key
    ops: list[dict]
    floats: bytes  # the arrays of ops in order, float32 little-endian
    versions: tuple[int, ...]  # the parameters' torch versions when read (see browser_weights)

    @property
    def count(self) -> int:
        return len(self.floats) // 4


def pack_weights(
    ops: list[tuple[dict, list[np.ndarray]]], versions: tuple[int, ...]
) -> BrowserWeights:
    """[(op, its arrays)] -> the JSON ops, the arrays as float32 bytes in order, a content id."""
    header = [op for op, _ in ops]
    arrays = [a.ravel() for _, arrays in ops for a in arrays]
    floats = np.concatenate(arrays).astype("<f4").tobytes()
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode() + floats)
    return BrowserWeights(digest.hexdigest()[:16], header, floats, versions)


# Per model object, computed once: models are shared read-only by every session (a saved one
# via st.cache_resource), and a weak key lets a dropped model take its bytes with it.
_WEIGHTS: weakref.WeakKeyDictionary[VAE, BrowserWeights | None] = weakref.WeakKeyDictionary()
_WEIGHTS_LOCK = threading.Lock()


def browser_weights(model: VAE) -> BrowserWeights | None:
    """The decoder's ops, bytes and id, once per model; None if the browser cannot run it.

    A model is not expected to change once shown, but if its parameters are written in place
    (an optimizer step, load_state_dict) torch bumps their version counters, and the bytes
    are read again: the browser would otherwise draw a stale decoder.
    """
    # (Tensors made under torch.inference_mode keep no version counter: -1 for those.)
    versions = tuple(-1 if p.is_inference() else p._version for p in model.decoder.parameters())
    with _WEIGHTS_LOCK:
        cached = _WEIGHTS.get(model, False)
    if cached is None or (cached and cached.versions == versions):
        return cached
    ops = decoder_ops(model)
    weights = pack_weights(ops, versions) if ops is not None else None
    with _WEIGHTS_LOCK:
        _WEIGHTS[model] = weights
    return weights


def decoder_payload(
    model: VAE,
    image_shape: tuple[int, int],
    target: str,
    z: tuple[float, float] | None,
    pixels: int = DISPLAY_PIXELS,
    with_weights: bool = True,
) -> bytes | None:
    """What map_decoder.js reads: uint32 header length, JSON header, padding, float32 arrays.

    header["id"] names the weights; header["weights"] says whether they follow (else the
    browser has them from an earlier payload). None when the browser cannot run this model's
    decoder, or it is too big to send.
    """
    weights = browser_weights(model)
    if weights is None or weights.count > MAX_BROWSER_WEIGHTS:
        return None
    header = {
        "id": weights.id,
        "weights": with_weights,
        "ops": weights.ops,
        "likelihood": model.config.likelihood,
        "image_shape": list(image_shape),
        "pixels": pixels,
        "target": target,
        "z": [float(z[0]), float(z[1])] if z is not None else None,
    }
    head = json.dumps(header).encode()
    if not with_weights:
        return struct.pack("<I", len(head)) + head
    pad = (4 - (4 + len(head)) % 4) % 4
    return struct.pack("<I", len(head)) + head + b"\0" * pad + weights.floats


def weights_sent() -> set[str]:
    """Ids of the network weights this session's browser was sent (decoders and the drawing
    pad's encoders): a mount adds the id it sent, so the next run sends the header only."""
    return st.session_state[DECODERS_SENT_KEY]


def resend_weights(ids: list[str] | None) -> None:
    """The browser lacks these weights (None: it could not say which): send them again."""
    if ids is None:
        st.session_state[DECODERS_SENT_KEY].clear()
    for i in ids or ():
        st.session_state[DECODERS_SENT_KEY].discard(str(i))


def browser_decoder(
    model: VAE,
    image_shape: tuple[int, int] | None,
    chart_key: str,
    z: tuple[float, float] | None,
    key: str,
    pixels: int = DISPLAY_PIXELS,
) -> bool:
    """Mount the in-browser picture of the clicked z, `pixels` wide; returns whether it is shown.

    Call it outside the fragment that reads the clicks. The weights go with the first run
    that shows this model in this session; later runs send the header only, unless the
    browser said it lacks them (its "need" trigger). Not shown for non-image data or a
    decoder the browser cannot run: the decode panel then shows the server's picture.
    """
    if image_shape is None or model.config.latent_dim != 2:
        return False
    sent = weights_sent()

    def weights_needed() -> None:  # runs before the rerun the browser's request asked for
        state = st.session_state.get(key)
        wanted = state.get("need") if state else None
        # unreadable: send every decoder again rather than leave the box empty
        resend_weights([wanted] if isinstance(wanted, str) else None)

    weights = browser_weights(model)
    with_weights = weights is not None and weights.id not in sent
    payload = decoder_payload(
        model, image_shape, chart_key, z, pixels=pixels, with_weights=with_weights
    )
    if payload is None:
        return False
    _mount(key=key, data=payload, on_need_change=weights_needed)
    if with_weights:
        sent.add(weights.id)
    return True

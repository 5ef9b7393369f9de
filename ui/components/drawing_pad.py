"""The drawing pad: draw with mouse, pen or touch; μ and the bubble follow the pen live.

The encoder runs in the browser, as the Latent map's decoder does (ui/components/map_decoder.py): its
weights go once per browser session and model, by content id, and each pointer move frames
the drawing like the training images (viz/image_input.Framing), encodes it, draws μ with its
1σ/2σ ellipse on a small map of the test set's means, and decodes μ with the map decoder's
own code. Python hears of the drawing once per finished stroke. An encoder the browser
cannot run (a layer it does not know, or too many weights) stays on the server: each
finished stroke then makes a round trip, and the next run draws the server's μ and σ.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from torch import nn

from ui import presenter
from ui.components.component_js import component_js
from ui.components.map_decoder import (
    MAX_BROWSER_WEIGHTS,
    BrowserWeights,
    browser_weights,
    resend_weights,
    weights_sent,
)
from ui.components.map_decoder import pack_weights as _pack
from ui.components.scrubber import point_colors
from ui.latent_images import DISPLAY_PIXELS
from vae import VAE
from vae.latent import decode_latents, encode_dataset
from viz.image_input import Framing
from viz.latent_map import data_bounds

MAP_POINTS = 1_500  # background means on the pad's map: drawn once per mount


def _pad_js() -> str:
    """The map decoder's module (decode, greyLevels, its weight cache) followed by the pad's.

    One ES module: the pad decodes with exactly the functions the Latent map uses. The map
    decoder's default export becomes a plain function (a module has one default).
    """
    decoder = component_js("map_decoder.js").replace(
        "export default function mountDecoder", "function mountDecoder"
    )
    return decoder + "\n" + component_js("drawing_pad.js")


PAD_JS = _pad_js()
_CSS = Path(__file__).with_name("drawing_pad.css").read_text(encoding="utf-8")
_mount = st.components.v2.component(
    "vae_explorer_drawing_pad", js=PAD_JS, css=_CSS, isolate_styles=False
)


def _flat_layers(module: nn.Module) -> list[nn.Module]:
    """The leaf layers of nested Sequentials, in order (the MLP body is Sequential(mlp, SiLU))."""
    module = getattr(module, "net", module)  # _ConvEncoder keeps its layers in .net
    if isinstance(module, nn.Sequential):
        return [leaf for m in module for leaf in _flat_layers(m)]
    return [module]


def encoder_ops(model: VAE) -> list[tuple[dict, list[np.ndarray]]] | None:
    """The encoder body and head as the browser runs them: [(op, its arrays)]; None if it cannot.

    ops: {"op": "linear", "in", "out"}; {"op": "silu"}; {"op": "unflatten", "shape"};
    {"op": "conv2d", "cin", "cout", "k", "stride", "pad"} with W (cout, cin, k, k) and b;
    {"op": "flatten"}. That covers both encoders of vae.model; anything else stays on the server.
    """

    def arrays(module: nn.Module) -> list[np.ndarray]:
        return [p.detach().float().cpu().numpy() for p in (module.weight, module.bias)]

    ops: list[tuple[dict, list[np.ndarray]]] = []
    for m in [*_flat_layers(model.encoder_body), model.encoder_head]:
        if isinstance(m, nn.Linear) and m.bias is not None:
            ops.append(({"op": "linear", "in": m.in_features, "out": m.out_features}, arrays(m)))
        elif isinstance(m, nn.SiLU):
            ops.append(({"op": "silu"}, []))
        elif isinstance(m, nn.Unflatten) and m.dim == 1:
            ops.append(({"op": "unflatten", "shape": list(m.unflattened_size)}, []))
        elif (
            isinstance(m, nn.Conv2d)
            and m.bias is not None
            and m.groups == 1
            and m.dilation == (1, 1)
            and m.padding_mode == "zeros"
            and isinstance(m.padding, tuple)
            and m.kernel_size[0] == m.kernel_size[1]
            and m.stride[0] == m.stride[1]
            and m.padding[0] == m.padding[1]
        ):
            op = {"op": "conv2d", "cin": m.in_channels, "cout": m.out_channels,
                  "k": m.kernel_size[0], "stride": m.stride[0], "pad": m.padding[0]}  # fmt: skip
            ops.append((op, arrays(m)))
        elif isinstance(m, nn.Flatten) and m.start_dim == 1:
            ops.append(({"op": "flatten"}, []))
        else:
            return None
    return ops


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
class BrowserEncoder:
    weights: BrowserWeights
    posterior: dict  # the bound on log σ² (see posterior_bound)


_ENCODERS: weakref.WeakKeyDictionary[VAE, BrowserEncoder | None] = weakref.WeakKeyDictionary()
_ENCODERS_LOCK = threading.Lock()


def browser_encoder(model: VAE) -> BrowserEncoder | None:
    """The encoder's ops, bytes, id and posterior bound, once per model (read again if its
    parameters change in place); None when the browser cannot run it or it is too big."""
    params = [*model.encoder_body.parameters(), *model.encoder_head.parameters()]
    versions = tuple(-1 if p.is_inference() else p._version for p in params)
    with _ENCODERS_LOCK:
        cached = _ENCODERS.get(model, False)
    if cached is None or (cached and cached.weights.versions == versions):
        return cached
    ops = encoder_ops(model)
    bound = posterior_bound(model) if ops is not None else None
    encoder = None
    if ops is not None and bound is not None:
        weights = _pack(ops, versions)
        if weights.count <= MAX_BROWSER_WEIGHTS:
            encoder = BrowserEncoder(weights, bound)
    with _ENCODERS_LOCK:
        _ENCODERS[model] = encoder
    return encoder


@dataclass(frozen=True)
class PadMap:
    """The pad's latent map: a sample of the test set's means, their colours, the bounds."""

    points: list  # [[mu1, mu2]] at most MAP_POINTS, rounded
    colors: list | None  # index into palette per point
    palette: list
    bounds: list  # [x0, x1, y0, y1]
    labels: list | None = None  # class names, in palette order (a legend), for class labels


def pad_map(
    mu: np.ndarray,
    y: np.ndarray | None,
    label_kind: str | None,
    class_names: tuple[str, ...] | None = None,
    seed: int = 0,
) -> PadMap:
    """At most MAP_POINTS of the test set's means (a fixed sample of the finite ones)."""
    mu = np.asarray(mu, dtype=np.float64).reshape(-1, 2)
    keep = np.flatnonzero(np.isfinite(mu).all(1))
    if len(keep) > MAP_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(keep, MAP_POINTS, replace=False))
    palette, color = point_colors(y, label_kind)
    (x0, x1), (y0, y1) = data_bounds(mu[keep], pad=0.08)
    return PadMap(
        points=np.round(mu[keep], 3).tolist(),
        colors=None if color is None else color[keep].astype(int).tolist(),
        palette=palette,
        bounds=[x0, x1, y0, y1],
        labels=list(class_names) if label_kind == "class" and class_names else None,
    )


def pad_payload(
    model: VAE,
    image_shape: tuple[int, int],
    framing: Framing,
    the_map: PadMap,
    sent: set[str] | frozenset[str] = frozenset(),
    upload: dict | None = None,
    server: dict | None = None,
    scale: float = 1.0,
) -> bytes:
    """What drawing_pad.js reads: uint32 header length, JSON header, padding, float32 arrays.

    The encoder's and decoder's floats follow only if their ids are not in `sent` (the ids
    this browser session has been sent). upload: {"x": (D,) list, "id", "name"} shown instead
    of the drawing; server: {"mu", "sigma", "recon"} of the current input, for an encoder that
    runs on the server; scale: the pad's size relative to normal (presenter mode enlarges it).
    """
    encoder = browser_encoder(model)
    decoder = browser_weights(model)
    if decoder is not None and decoder.count > MAX_BROWSER_WEIGHTS:
        decoder = None
    header = {
        "encoder": None,
        "decoder": None,
        "likelihood": model.config.likelihood,
        "image_shape": list(image_shape),
        "framing": {"fill": framing.fill, "stroke": framing.stroke},
        "pixels": DISPLAY_PIXELS,
        "map": the_map.__dict__,
        "input": upload,
        "server": server,
        "scale": scale,
    }
    floats = b""
    if encoder is not None:
        with_weights = encoder.weights.id not in sent
        header["encoder"] = {"id": encoder.weights.id, "weights": with_weights,
                             "ops": encoder.weights.ops, "posterior": encoder.posterior}  # fmt: skip
        floats += encoder.weights.floats if with_weights else b""
    if decoder is not None:
        with_weights = decoder.id not in sent
        header["decoder"] = {"id": decoder.id, "weights": with_weights, "ops": decoder.ops}
        floats += decoder.floats if with_weights else b""
    head = json.dumps(header).encode()
    pad = (4 - (4 + len(head)) % 4) % 4
    return struct.pack("<I", len(head)) + head + b"\0" * pad + floats


def server_posterior(model: VAE, x: np.ndarray) -> dict:
    """μ, σ and the reconstruction E[x|z=μ] of one input (D,), computed by torch."""
    mu, sigma = encode_dataset(model, np.asarray(x, dtype=np.float32)[None])
    recon = decode_latents(model, mu)[0]
    return {
        "mu": mu[0].astype(float).tolist(),
        "sigma": sigma[0].astype(float).tolist(),
        "recon": np.round(recon.astype(float), 4).tolist(),
    }


def upload_input(x: np.ndarray, name: str, upload_id: str = "") -> dict:
    """An upload as the pad shows it: its (D,) values and an id that changes with them and
    with each upload (the same file uploaded again after a drawing is shown again)."""
    values = np.round(np.asarray(x, dtype=np.float64).ravel(), 4)
    digest = hashlib.sha256(values.tobytes() + f"{name}|{upload_id}".encode()).hexdigest()[:16]
    return {"x": values.tolist(), "id": digest, "name": name}


def drawn_value(key: str, size: int) -> np.ndarray | None:
    """The pad's last finished drawing (size,) in [0, 1], or None (nothing drawn, cleared, or
    not a drawing of this model's size).

    The value comes from the browser, where anyone may change it: it is used only when it is
    a list of exactly `size` finite numbers, and those are clipped to [0, 1] (a pixel of 1e6
    gave "log p(x) = +7e8"; text or nested lists gave error pages)."""
    state = st.session_state.get(key)
    value = state.get("image") if isinstance(state, dict) else None
    x = value.get("x") if isinstance(value, dict) else None
    if not isinstance(x, list) or len(x) != size:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in x):
        return None
    pixels = np.asarray(x, dtype=np.float64)
    if not np.isfinite(pixels).all():
        return None
    return np.clip(pixels, 0.0, 1.0).astype(np.float32)


def drawing_pad(
    model: VAE,
    image_shape: tuple[int, int],
    framing: Framing,
    the_map: PadMap,
    key: str,
    upload: dict | None = None,
    on_change=None,
) -> np.ndarray | None:
    """Mount the pad; returns the last finished drawing (D,) in [0, 1], or None.

    The caller checks the model first (an image shape whose size is the model's input, a
    2-D latent space). `on_change` runs before the rerun a finished stroke (or Clear) asks
    for. `upload` (see upload_input) is shown and encoded instead of the drawing until the
    user draws again.
    """
    sent = weights_sent()

    def changed() -> None:
        state = st.session_state.get(key) or {}
        wanted = state.get("need")
        if wanted is not None:  # the browser lacks these weights: send them again
            resend_weights(
                [str(i) for i in wanted] if isinstance(wanted, list) and wanted else None
            )

    encoder = browser_encoder(model)
    server = None
    if encoder is None:  # the server's μ, σ of what the pad showed last
        current = upload["x"] if upload is not None else drawn_value(key, model.config.input_dim)
        if current is not None and len(current) == model.config.input_dim:
            server = server_posterior(model, np.asarray(current))
    scale = presenter.SCALE if presenter.is_on() else 1.0
    payload = pad_payload(model, image_shape, framing, the_map, sent, upload, server, scale)
    # Every state the JS sets needs a callback to be a state of this component.
    _mount(key=key, data=payload, on_need_change=changed, on_image_change=on_change or _nothing)
    if encoder is not None:
        sent.add(encoder.weights.id)
    decoder = browser_weights(model)
    if decoder is not None and decoder.count <= MAX_BROWSER_WEIGHTS:
        sent.add(decoder.id)
    drawn = drawn_value(key, model.config.input_dim)  # None for another model's drawing
    return drawn if drawn is not None and len(drawn) == model.config.input_dim else None


def _nothing() -> None:
    pass

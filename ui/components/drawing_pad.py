"""The drawing pad: draw with mouse, pen or touch; μ and the bubble follow the pen live.

The encoder runs in the browser, as the Latent map's decoder does (ui/components/network.py):
its weights go once per browser session and model, by content id, and each pointer move frames
the drawing like the training images (viz/image_input.Framing), encodes it, draws μ with its
1σ/2σ ellipse on a small map of the test set's means, and decodes μ with the interpreter the
Latent map's decoder runs on (web/lib/net.js). Python hears of the drawing once per finished stroke. An encoder the browser
cannot run (a layer it does not know, or too many weights) stays on the server: each
finished stroke then makes a round trip, and the next run draws the server's μ and σ.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from runner.frames import frame_bytes
from ui import presenter
from ui.components.assets import WebComponent
from ui.components.map_decoder import NETWORKS_SENT
from ui.components.network import browser_decoder, browser_encoder
from ui.components.scrubber import point_colors
from ui.components.sending import forget_needed
from ui.latent_images import DISPLAY_PIXELS
from vae import VAE
from vae.latent import decode_latents, encode_dataset
from viz.image_input import Framing
from viz.latent_map import data_bounds

MAP_POINTS = 1_500  # background means on the pad's map: drawn once per mount

_mount = WebComponent("drawing_pad", css="drawing_pad.css", isolate_styles=False)


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
    """What web/drawing_pad.js reads: a frame (runner/frames.py) whose header names the
    encoder and decoder (null: the browser cannot run it) and holds the pad's map and input.

    The encoder's and decoder's arrays follow only if their ids are not in `sent` (the ids
    this browser session has been sent). upload: {"x": (D,) list, "id", "name"} shown instead
    of the drawing; server: {"mu", "sigma", "recon"} of the current input, for an encoder that
    runs on the server; scale: the pad's size relative to normal (presenter mode enlarges it).
    """
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
    arrays = {}
    for role, net in (("encoder", browser_encoder(model)), ("decoder", browser_decoder(model))):
        if net is not None:
            header[role] = net.header(with_weights=net.id not in sent)
            if net.id not in sent:
                arrays[role] = net.floats
    return frame_bytes(header, arrays)


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
    encoder = browser_encoder(model)
    server = None
    if encoder is None:  # the server's μ, σ of what the pad showed last
        current = upload["x"] if upload is not None else drawn_value(key, model.config.input_dim)
        if current is not None and len(current) == model.config.input_dim:
            server = server_posterior(model, np.asarray(current))
    scale = presenter.SCALE if presenter.is_on() else 1.0
    sent = {
        n.id for n in (encoder, browser_decoder(model)) if n is not None and n.id in NETWORKS_SENT
    }
    payload = pad_payload(model, image_shape, framing, the_map, sent, upload, server, scale)
    # Every state the JS sets needs a callback to be a state of this component.
    _mount(
        key=key,
        data=payload,
        on_need_change=forget_needed(NETWORKS_SENT, key),
        on_image_change=on_change or _nothing,
    )
    for net in (encoder, browser_decoder(model)):
        if net is not None:
            NETWORKS_SENT.add(net.id)
    drawn = drawn_value(key, model.config.input_dim)  # None for another model's drawing
    return drawn if drawn is not None and len(drawn) == model.config.input_dim else None


def _nothing() -> None:
    pass

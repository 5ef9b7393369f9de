"""The latent map's click panel, drawn by the browser: a click costs the server nothing.

A click on the map used to rerun the panel's fragment on the server (2.9 ms of server CPU for
empty space, 24-26 ms for a test point with its pictures: issue 21), so a class of a hundred
queued behind one another. Everything the panel shows is a function of what the browser can
hold once per model view:
- the test images, as one PNG sprite sheet (the *atlas*: every picture at its native size, in
  rows of `cols`, grey levels exactly as ui/latent_images.to_image makes them);
- each test point's mu and sigma (float32) and its label;
- the decoder's weights, which ui/components/map_decoder.py already sends once.
So ui/components/web/click_panel.js draws the original, the reconstruction (decoded from mu), mu,
sigma and KL (closed form), the decodes of z = mu + sigma * eps (ui/latent_panel.epsilon, the
same numbers in both languages) and hands the samples to the map layer to draw as dots.

The server hears of the click afterwards: the map layer sends it NOTICE_DELAY_MS after the
last click, never awaited, and at once before anything that reads it (any other press or key
on the page: the link button, a scene, another page). The data go once per browser session
and view (a content id, as the decoder's weights do); later runs send the header only.

Not shown (the server's panel stays) for data that are not images, a decoder the browser
cannot run or is too big to send, and test sets whose atlas would be too big.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st
from PIL import Image

from runner.frames import frame_bytes
from ui.components.assets import WebComponent
from ui.components.map_layer import MapClick
from ui.components.network import browser_decoder
from ui.components.sending import SentIds, forget_needed
from ui.session_keys import CLICK_PANEL_SENT_KEY
from ui.view_cache import LatentView
from viz.plots import to_uint8

if TYPE_CHECKING:
    from ui.active_model import ActiveModel

NOTICE_DELAY_MS = 1500  # the server hears of a click this long after the student's last one
MAX_ATLAS_PIXELS = 16_000_000  # test-set pixels above which the panel stays on the server
ATLAS_COLUMNS = 100  # pictures per row of the atlas (a PNG row filter sees like rows)

_mount = WebComponent("click_panel", isolate_styles=False)
ATLASES_SENT = SentIds(CLICK_PANEL_SENT_KEY)


@dataclass(frozen=True)
class PictureAtlas:
    """What the browser keeps per view: the pictures' PNG sheet, mu, sigma, labels, an id."""

    id: str  # 16 hex digits of sha256 over everything below: the browser's cache key
    png: bytes  # the sheet: rows of `cols` pictures, each (h, w) grey levels
    cols: int
    image_shape: tuple[int, int]
    n: int
    arrays: dict[str, np.ndarray]  # mu (n, 2), sigma (n, 2), labels (n; NaN: none), png (bytes)


def picture_levels(x: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """(N, D) inputs -> (N, h, w) uint8 grey levels, each as ui/latent_images.to_image shows it:
    stretched to its own range when outside [0, 1] (standardised data), then quantised."""
    h, w = image_shape
    pictures = np.asarray(x, dtype=np.float32).reshape(-1, h, w)
    lo = pictures.min(axis=(1, 2), keepdims=True)
    hi = pictures.max(axis=(1, 2), keepdims=True)
    stretch = (lo < -0.05) | (hi > 1.05)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return to_uint8(np.where(stretch, (pictures - lo) / span, pictures))


def atlas_sheet(levels: np.ndarray, cols: int = ATLAS_COLUMNS) -> np.ndarray:
    """(N, h, w) uint8 -> one (rows*h, cols*w) sheet; picture i at row i // cols, column
    i % cols; the unused tail of the last row is black."""
    n, h, w = levels.shape
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    padded = np.zeros((rows * cols, h, w), np.uint8)
    padded[:n] = levels
    return padded.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def atlas_picture(sheet: np.ndarray, image_shape: tuple[int, int], cols: int, i: int) -> np.ndarray:
    """Picture i cut back out of a sheet (what click_panel.js does in the browser)."""
    h, w = image_shape
    row, col = divmod(i, cols)
    return sheet[row * h : (row + 1) * h, col * w : (col + 1) * w]


def atlas_png(sheet: np.ndarray) -> bytes:
    """The sheet as a grey PNG. zlib level 3: Fashion-MNIST's 10k pictures in 4.37 MB and
    1.3 s, against 4.12 MB and 2.3 s at PIL's default 6 and 4.07 MB and 10 s at 9 (measured
    on this project's 2-core machine); the first student to open a model waits for it."""
    buffer = io.BytesIO()
    Image.fromarray(sheet, mode="L").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def build_atlas(view: LatentView, image_shape: tuple[int, int]) -> PictureAtlas:
    levels = picture_levels(view.x, image_shape)
    cols = max(1, min(ATLAS_COLUMNS, len(levels)))
    png = atlas_png(atlas_sheet(levels, cols))
    labels = (
        np.asarray(view.y, dtype="<f4")
        if view.y is not None
        else np.full(len(view.mu), np.nan, "<f4")
    )
    arrays = {
        "mu": np.asarray(view.mu, np.float32),
        "sigma": np.asarray(view.sigma, np.float32),
        "labels": labels.astype(np.float32),
        "png": np.frombuffer(png, np.uint8),
    }
    digest = hashlib.sha256(json.dumps([cols, list(image_shape)]).encode())
    for array in arrays.values():
        digest.update(np.ascontiguousarray(array).tobytes())
    n = len(view.mu)
    return PictureAtlas(digest.hexdigest()[:16], png, cols, tuple(image_shape), n, arrays)


def view_atlas(view: LatentView, image_shape: tuple[int, int] | None) -> PictureAtlas | None:
    """The view's atlas, built once per view (shared by every session of a shared view); None
    when the data are not images or too many pixels to send."""
    if image_shape is None or len(view.x) * int(np.prod(image_shape)) > MAX_ATLAS_PIXELS:
        return None
    return view.derived(("click atlas", tuple(image_shape)), lambda: build_atlas(view, image_shape))


def panel_payload(
    atlas: PictureAtlas,
    view: LatentView,
    *,
    target: str,
    decoder: str,
    likelihood: str,
    pixels: int,
    clicked: MapClick | None,
    seed: int,
    n_samples: int,
    with_data: bool,
) -> bytes:
    """What web/click_panel.js reads: a frame (runner/frames.py) whose header says what the
    panel shows, with the atlas's arrays (mu, sigma, labels, png) when with_data."""
    header = {
        "id": atlas.id,
        "data": with_data,
        "n": atlas.n,
        "cols": atlas.cols,
        "image_shape": list(atlas.image_shape),
        "class_names": list(view.class_names)
        if view.class_names is not None and view.label_kind == "class"
        else None,
        "target": target,
        "decoder": decoder,
        "likelihood": likelihood,
        "pixels": pixels,
        "clicked": list(clicked.z) if clicked is not None else None,
        "index": clicked.index if clicked is not None else None,
        "seed": seed,
        "n_samples": n_samples,
    }
    return frame_bytes(header, atlas.arrays if with_data else None)


def browser_panel(
    active: ActiveModel,
    view: LatentView,
    chart_key: str,
    clicked: MapClick | None,
    key: str,
    *,
    seed: int,
    n_samples: int,
    on_seed: Callable[[int], None],
    pixels: int,
) -> bool:
    """Mount the browser's click panel under the decoded picture; returns whether it is shown.

    Call it outside the map's fragment, after ui.components.map_decoder.browser_decoder said
    the browser runs this decoder. on_seed(seed): New ε was pressed in the browser.
    """
    atlas = view_atlas(view, active.dataset.image_shape)
    decoder = browser_decoder(active.model)
    if atlas is None or decoder is None:
        return False

    def seed_changed() -> None:
        state = st.session_state.get(key)
        value = state.get("seed") if state else None
        if isinstance(value, int | float) and math.isfinite(value) and 0 <= value < 2**31:
            on_seed(int(value))

    with_data = atlas.id not in ATLASES_SENT
    payload = panel_payload(
        atlas, view, target=chart_key, decoder=decoder.id,
        likelihood=active.model.config.likelihood, pixels=pixels, clicked=clicked,
        seed=seed, n_samples=n_samples, with_data=with_data,
    )  # fmt: skip
    _mount(
        key=key,
        data=payload,
        on_need_change=forget_needed(ATLASES_SENT, key),
        on_seed_change=seed_changed,
    )
    ATLASES_SENT.add(atlas.id)
    return True

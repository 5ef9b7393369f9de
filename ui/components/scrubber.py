"""The interpolation scrubber: decoded frames sent once, a slider that swaps them in the browser.

Why a component? A Plotly figure with frames and its own slider redraws the whole figure on
every step (measured 93 ms per frame in software-rendered Chromium, bench/scrub.py). Here the
S decoded frames travel once, as one PNG sprite sheet at native resolution; the browser shows
frame i by copying one tile onto a small canvas (upscaled with crisp pixels by CSS), moves a
marker on a mini latent map and on the page's Plotly map (where it also draws the path), and
updates the t / z readout. No server round trip while dragging, and a few ms per step.

The pure half (sprite sheet, payload) knows nothing of Streamlit's runtime and is tested in
tests/test_interpolate.py; `scrubber()` mounts the component.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ui.components.assets import WebComponent
from ui.latent_images import to_image
from viz.latent_map import PALETTE, data_bounds
from viz.plots import png_bytes

MAP_POINTS = 1_500  # background points of the mini map: drawn once per mount, free per step
# A colour ramp for continuous labels (viridis at five stops): cheap, and readable on white.
RAMP = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")

_mount = WebComponent("scrubber", css="scrubber.css", isolate_styles=False)


@dataclass(frozen=True)
class ScrubFrames:
    """Everything the browser needs to scrub one path; built once per (model, path, mode)."""

    z: np.ndarray  # (S, 2) path points, uniform in arc length (vae.latent.interpolation_path)
    decoded: np.ndarray  # (S, D) E[x|z] at each point: also the GIF's frames
    sprite: str | None  # PNG data URL of the S frames, tiled `columns` wide; None: not images
    columns: int
    frame_shape: tuple[int, int] | None  # (H, W) of one tile


def sprite_sheet(decoded: np.ndarray, image_shape: tuple[int, int]) -> tuple[Image.Image, int]:
    """S decoded examples (S, D) -> one greyscale image of S tiles (H, W each), row-major.

    Tiles keep native resolution (the browser upscales them with crisp pixels) and each is
    scaled exactly as the app's other pictures (ui.latent_images.to_image), so the scrubber
    shows the same grey levels as the strip and the Latent map page.
    """
    h, w = image_shape
    n = len(decoded)
    columns = max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / columns)
    sheet = Image.new("L", (columns * w, rows * h), 255)
    for i, x in enumerate(decoded):
        sheet.paste(
            to_image(x, image_shape, pixels=max(h, w)), ((i % columns) * w, (i // columns) * h)
        )
    return sheet, columns


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def build_frames(
    z: np.ndarray, decoded: np.ndarray, image_shape: tuple[int, int] | None
) -> ScrubFrames:
    """Encode the decoded path once (read-only arrays: the result is shared between sessions)."""
    z = np.array(z, dtype=np.float64).reshape(-1, 2)
    decoded = np.array(decoded, dtype=np.float32).reshape(len(z), -1)
    z.setflags(write=False)
    decoded.setflags(write=False)
    if image_shape is None:
        return ScrubFrames(z, decoded, None, 0, None)
    sheet, columns = sprite_sheet(decoded, image_shape)
    return ScrubFrames(z, decoded, data_url(png_bytes(sheet)), columns, tuple(image_shape))


def point_colors(
    y: np.ndarray | None, label_kind: str | None
) -> tuple[list[str], np.ndarray | None]:
    """(palette, index into it per point) for the mini map; None: one grey for all."""
    if y is None or label_kind is None:
        return ["#8a8a8a"], None
    if label_kind == "class":
        return list(PALETTE), np.asarray(y).astype(int) % len(PALETTE)
    values = np.asarray(y, dtype=np.float64)
    lo, hi = np.nanmin(values), np.nanmax(values)
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    return list(RAMP), np.clip(np.rint(np.nan_to_num(scaled) * (len(RAMP) - 1)), 0, len(RAMP) - 1)


def scrub_payload(
    frames: ScrubFrames,
    waypoints: np.ndarray,
    mu: np.ndarray,
    y: np.ndarray | None,
    label_kind: str | None,
    *,
    map_key: str | None = None,
    display_px: int = 168,
    seed: int = 0,
) -> dict:
    """The JSON the component receives: frames, path, waypoints and a sample of the map.

    mu (N, 2) and y (N,) are the test set as the latent map shows it; at most MAP_POINTS of
    them (a fixed random sample of the finite ones) are sent as the mini map's background.
    map_key: the key of an st.plotly_chart in the same latent units: the path, its waypoints
    and the current position are drawn over it. Every number sent is finite (JSON has no NaN).
    """
    mu = np.asarray(mu, dtype=np.float64).reshape(-1, 2)
    keep = np.flatnonzero(np.isfinite(mu).all(1))
    if len(keep) > MAP_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(keep, MAP_POINTS, replace=False))
    palette, color = point_colors(y, label_kind)
    waypoints = np.asarray(waypoints, dtype=np.float64).reshape(-1, 2)
    (x0, x1), (y0, y1) = data_bounds(np.concatenate([mu, frames.z, waypoints]), pad=0.08)
    payload = {
        "steps": len(frames.z),
        "path": np.round(frames.z, 4).tolist(),
        "waypoints": np.round(waypoints, 4).tolist(),
        "bounds": [x0, x1, y0, y1],
        "points": np.round(mu[keep], 3).tolist(),
        "colors": None if color is None else color[keep].astype(int).tolist(),
        "palette": palette,
        "mapKey": map_key,
        "displayPx": int(display_px),
    }
    if frames.sprite is not None:
        h, w = frames.frame_shape
        payload["sprite"] = {"url": frames.sprite, "columns": frames.columns, "w": w, "h": h}
    else:  # not images (e.g. 3-D points of a swiss roll): bars of the decoded values
        payload["vectors"] = np.round(np.nan_to_num(frames.decoded), 4).tolist()
    return payload


def scrubber(payload: dict, key: str) -> None:
    """Mount the scrubber. It sends nothing back: scrubbing never reruns the script."""
    _mount(key=key, data=payload)

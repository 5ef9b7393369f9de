"""Decoded vectors as crisp pictures (or tables) for the latent pages.

Images are upscaled nearest-neighbour before they reach st.image, so an 8x8 digit stays eight
sharp blocks instead of a browser-smoothed blur, and they go out as PNG (st.image would send
JPEG otherwise, smearing the few pixels there are).
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from viz.plots import to_uint8

from .text import plain

DISPLAY_PIXELS = 168  # on-screen size of a decoded image; a multiple of 8 and of 28


def to_image(
    x: np.ndarray, image_shape: tuple[int, int], pixels: int = DISPLAY_PIXELS
) -> Image.Image:
    """One flattened example (D,) -> greyscale PIL image, upscaled nearest-neighbour.

    Values are clipped to [0, 1] (decoded Bernoulli means already are; Gaussian means of
    standardised data are min-max scaled instead, so that contrast survives).
    """
    h, w = image_shape
    arr = np.asarray(x, dtype=np.float32).reshape(h, w)
    if arr.min() < -0.05 or arr.max() > 1.05:  # not in [0, 1]: stretch to the full range
        span = float(arr.max() - arr.min()) or 1.0
        arr = (arr - arr.min()) / span
    img = Image.fromarray(to_uint8(arr), mode="L")
    scale = max(1, pixels // max(h, w))
    return img.resize((w * scale, h * scale), Image.NEAREST)


def strip_image(
    xs: np.ndarray, image_shape: tuple[int, int], pixels: int = 96, gap: int = 4
) -> Image.Image:
    """K examples (K, D) side by side in one image, separated by white gaps."""
    tiles = [to_image(x, image_shape, pixels) for x in xs]
    w, h = tiles[0].size
    strip = Image.new("L", (len(tiles) * (w + gap) - gap, h), 255)
    for i, tile in enumerate(tiles):
        strip.paste(tile, (i * (w + gap), 0))
    return strip


def show_vector(
    x: np.ndarray,
    image_shape: tuple[int, int] | None,
    caption: str,
    pixels: int = DISPLAY_PIXELS,
    **kwargs,
) -> None:
    """An image when the data are images, else the numbers (e.g. 3-D points of a swiss roll)."""
    if image_shape is not None:
        picture = to_image(x, image_shape, pixels)
        st.image(picture, caption=plain(caption), output_format="PNG", **kwargs)
    else:
        values = ", ".join(f"{v:.3g}" for v in np.asarray(x).ravel()[:12])
        st.markdown(f"**{plain(caption)}**  \n`({values})`")

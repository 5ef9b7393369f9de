"""The interpolation's exports are sized for a slide, with t values and an optional label drawn in.

Before (issue 18) the GIF was 168 px with nothing but the pictures, and the strip 96 px tiles.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageSequence

from viz.export import (
    SLIDE_PICTURE_PX,
    interpolation_gif,
    interpolation_strip_png,
    picture,
)

SHAPE = (28, 28)


def frames(k: int) -> np.ndarray:
    """K frames whose brightness rises along the path: frame i is all i / (K - 1)."""
    return np.repeat(np.linspace(0, 1, k)[:, None], 28 * 28, axis=1).astype(np.float32)


def grey(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.int32)


def text_rows(image: np.ndarray, top: int, bottom: int, left: int, right: int) -> int:
    """Rows of image[top:bottom, left:right] with dark pixels: drawn text (the rest is white)."""
    return int((image[top:bottom, left:right] < 128).any(axis=1).sum())


def test_the_gif_is_slide_sized_with_t_under_each_picture_and_the_label_over_it():
    k = 5
    data = interpolation_gif(frames(k), np.linspace(0, 1, k), SHAPE, label="Sneaker → Bag")
    gif = Image.open(io.BytesIO(data))
    shots = [np.asarray(f.convert("L"), dtype=np.int32) for f in ImageSequence.Iterator(gif)]
    assert len(shots) == 2 * k - 2  # forwards, then back without repeating the ends
    side = -(-SLIDE_PICTURE_PX // 28) * 28  # whole-pixel upscaling: 19 x 28 = 532
    assert gif.width == side >= 512
    title = (gif.height - side) // 2  # a band over the picture and one under it, equal
    # The picture is the frame, upscaled: frame 2 of 5 is grey level 0.5 -> 128.
    assert np.all(shots[2][title : title + side] == 128)
    assert text_rows(shots[0], 0, title, 0, side) > 5, "the label is drawn over the picture"
    under = shots[0][title + side :]
    assert text_rows(under, 0, len(under), 0, side) > 5, "t is drawn under the picture"
    # Another t, another text under the picture; the same label over it.
    assert not np.array_equal(shots[0][title + side :], shots[1][title + side :])
    assert np.array_equal(shots[0][:title], shots[1][:title])


def test_the_strip_is_slide_wide_with_each_frames_t_and_an_optional_label():
    k = 8
    plain = grey(interpolation_strip_png(frames(k), np.linspace(0, 1, k), SHAPE))
    labelled = grey(interpolation_strip_png(frames(k), np.linspace(0, 1, k), SHAPE, label="a→b"))
    assert plain.shape[1] >= 8 * 224 and labelled.shape[1] == plain.shape[1]
    assert labelled.shape[0] > plain.shape[0]  # the label's band
    tile = -(-224 // 28) * 28
    # Under each picture its own t: eight different captions, each with text in it.
    captions = [plain[tile:, i * (tile + 8) : i * (tile + 8) + tile] for i in range(k)]
    assert all(text_rows(c, 0, len(c), 0, tile) > 5 for c in captions)
    assert len({c.tobytes() for c in captions}) == k
    # Frame 0 is black, the last white: the pictures are the frames themselves.
    assert np.all(plain[:tile, :tile] == 0) and np.all(plain[:tile, -tile:] == 255)


def test_a_label_is_one_printable_line_and_bad_input_is_refused():
    long = "x" * 500 + "\n<b>"
    data = interpolation_gif(frames(2), [0, 1], SHAPE, label=long)
    assert Image.open(io.BytesIO(data)).width >= 512  # drawn, cut, no error
    with pytest.raises(ValueError, match="2 frames for 3 t values"):
        interpolation_strip_png(frames(2), [0, 0.5, 1], SHAPE)


def test_a_picture_of_standardised_values_is_stretched_not_clipped():
    x = np.linspace(-2, 3, 28 * 28).astype(np.float32)
    levels = np.asarray(picture(x, SHAPE, 56))
    assert levels.shape == (56, 56) and levels.min() == 0 and levels.max() == 255

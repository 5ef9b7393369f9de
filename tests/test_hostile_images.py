"""Images converted correctly or refused clearly: 16-bit greys, transparency, palettes, CMYK.

Each image is generated with a known picture (a bright square on a dark field, or a drawn
shape on a transparent field) and read through the same path as an uploaded zip; the grey
levels must be the picture's, not clipped white or dropped-alpha black.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from vae.data import load_user_data

SQUARE = (slice(2, 6), slice(2, 6))  # the shape in every 8x8 test image


def _encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _as_uploaded(blobs: list[bytes], suffix: str = "png") -> np.ndarray:
    """The (N, 8, 8) grey levels in 0..255 the app trains on, read from a zip upload."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, blob in enumerate(blobs):
            archive.writestr(f"img/{i:02d}.{suffix}", blob)
    data = load_user_data(buffer.getvalue(), "imgs.zip")
    scale = data.preprocessing.get("by", 1.0)  # "identity" when every value is 0 or 1
    x = np.concatenate([data.x_train, data.x_test]) * scale
    return np.rint(x).reshape(-1, 8, 8)


def sixteen_bit(level: int) -> bytes:
    """A 16-bit grey PNG: a square of `level` on 0 (most of the 0..65535 range used)."""
    pixels = np.zeros((8, 8), np.uint16)
    pixels[SQUARE] = level
    image = Image.fromarray(pixels)
    assert image.mode.startswith("I;16")
    return _encoded(image)


def test_16_bit_greys_are_scaled_by_their_range_not_clipped() -> None:
    levels = [1000 * (i + 1) for i in range(12)]  # all above 255: convert("L") made them 255
    x = _as_uploaded([sixteen_bit(level) for level in levels])
    got = sorted(x[:, 3, 3].tolist())
    assert got == [round(level * 255 / 65535) for level in levels]
    assert (x[:, 0, 0] == 0).all()


def rgba_shape(colour: tuple[int, int, int]) -> bytes:
    """A shape drawn in alpha: `colour` everywhere, opaque in the square, transparent around."""
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[..., :3] = colour
    pixels[SQUARE + (slice(3, 4),)] = 255
    return _encoded(Image.fromarray(pixels, "RGBA"))


def test_rgba_is_composited_on_white_so_the_shape_shows() -> None:
    """Black ink on a transparent page: the shape is black, the page white (it was all black)."""
    x = _as_uploaded([rgba_shape((0, 0, 0))] * 12)
    assert (x[:, 3, 3] == 0).all() and (x[:, 0, 0] == 255).all()


def test_half_transparent_pixels_blend_with_white() -> None:
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[..., 3] = 128  # black at half opacity over white: mid grey
    x = _as_uploaded([_encoded(Image.fromarray(pixels, "RGBA"))] * 12)
    assert np.all(np.abs(x - 127) <= 1)


def test_la_greys_with_alpha() -> None:
    pixels = np.zeros((8, 8, 2), np.uint8)
    pixels[SQUARE + (slice(1, 2),)] = 255
    x = _as_uploaded([_encoded(Image.fromarray(pixels, "LA"))] * 12)
    assert (x[:, 3, 3] == 0).all() and (x[:, 0, 0] == 255).all()


def test_palette_with_a_transparent_colour() -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 200, 200, 200] + [0] * 762)
    image.paste(1, (2, 2, 6, 6))
    x = _as_uploaded([_encoded(image, transparency=0)] * 12)
    assert (x[:, 0, 0] == 255).all()  # transparent: the white page
    assert np.all(np.abs(x[:, 3, 3] - 200) <= 1)  # the palette's grey


@pytest.mark.parametrize(("cmyk", "grey"), [((0, 0, 0, 0), 255), ((0, 0, 0, 255), 0)])
def test_cmyk_jpeg(cmyk: tuple[int, int, int, int], grey: int) -> None:
    blob = _encoded(Image.new("CMYK", (8, 8), cmyk), "JPEG", quality=95)
    x = _as_uploaded([blob] * 12, "jpg")
    assert np.all(np.abs(x - grey) <= 3)


def test_one_bit_images() -> None:
    image = Image.new("1", (8, 8), 0)
    image.paste(1, (2, 2, 6, 6))
    x = _as_uploaded([_encoded(image)] * 12)
    assert (x[:, 3, 3] == 255).all() and (x[:, 0, 0] == 0).all()

"""An uploaded picture becomes the model's input (viz/image_input.py): generated images with
known content, in every mode a PNG or JPEG comes in, and every way an upload can be bad."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import viz.image_input as image_input
from viz.image_input import (
    Framing,
    ImageInputError,
    frame,
    measure_framing,
    picture_to_input,
    read_picture,
    to_ink,
)

SQUARE = Framing(fill=0.5, stroke=0.1)


def _encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _dark_square_on_white(size=(120, 90), box=(30, 20, 70, 60)) -> np.ndarray:
    """(H, W) uint8: a black 40x40 square on white, off centre."""
    pixels = np.full((size[1], size[0]), 255, dtype=np.uint8)
    left, top, right, bottom = box
    pixels[top:bottom, left:right] = 0
    return pixels


def test_a_dark_square_on_white_becomes_a_centred_white_square() -> None:
    x = picture_to_input(_encode(Image.fromarray(_dark_square_on_white())), (28, 28), SQUARE)
    img = x.reshape(28, 28)
    assert x.dtype == np.float32 and img.min() >= 0 and img.max() <= 1
    # The 40 px square fills half of the 28 px frame (fill 0.5): 14 px, centred: rows/cols 7-20.
    assert np.allclose(img[7:21, 7:21], 1.0)
    inside = np.zeros((28, 28), bool)
    inside[7:21, 7:21] = True
    assert np.allclose(img[~inside], 0.0)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "1", "LA"])
def test_every_mode_gives_the_same_input(mode: str) -> None:
    grey = Image.fromarray(_dark_square_on_white())
    if mode == "I;16":
        image = Image.fromarray((np.asarray(grey, np.uint16) * 257).astype("<u2"))
        assert image.mode == "I;16"
    else:
        image = grey.convert(mode)
    got = picture_to_input(_encode(image), (28, 28), SQUARE)
    want = picture_to_input(_encode(grey), (28, 28), SQUARE)
    assert np.abs(got - want).max() < 1e-2, mode


def test_transparency_is_composited_on_white() -> None:
    # A transparent background (its colour black, invisible) with an opaque dark square: on
    # white, the square is the ink, not the whole canvas.
    rgba = np.zeros((90, 120, 4), dtype=np.uint8)  # transparent black everywhere
    rgba[20:60, 30:70] = (10, 10, 10, 255)
    x = picture_to_input(_encode(Image.fromarray(rgba, mode="RGBA")), (28, 28), SQUARE)
    want = picture_to_input(_encode(Image.fromarray(_dark_square_on_white())), (28, 28), SQUARE)
    assert np.abs(x - want).max() < 0.05
    # A palette image whose background entry is transparent, likewise.
    p = Image.fromarray(_dark_square_on_white()).convert("P")
    p.info["transparency"] = p.getpixel((0, 0))
    assert np.abs(picture_to_input(_encode(p), (28, 28), SQUARE) - want).max() < 0.05


def test_white_on_black_is_not_inverted_and_jpeg_noise_is_not_ink() -> None:
    pixels = 255 - _dark_square_on_white()  # already white on black, as the datasets are
    x = picture_to_input(_encode(Image.fromarray(pixels), "JPEG", quality=70), (28, 28), SQUARE)
    want = picture_to_input(_encode(Image.fromarray(pixels)), (28, 28), SQUARE)
    assert np.abs(x - want).max() < 0.15  # JPEG ringing, nothing more
    assert x.reshape(28, 28)[14, 14] > 0.9 and x.reshape(28, 28)[1, 1] < 0.1


def test_a_grey_background_is_stretched_to_black() -> None:
    pixels = np.full((50, 50), 200, dtype=np.uint8)  # light grey paper
    pixels[10:40, 20:30] = 40  # dark ink
    ink = to_ink(np.asarray(pixels, np.float32) / 255)
    assert ink[0, 0] == pytest.approx(0.0) and ink[20, 25] == pytest.approx(1.0)


def test_a_sheet_photographed_on_a_table_loses_its_paper() -> None:
    # A dark shape on off-white paper, the paper on a white (transparent) table: the model
    # sees the shape as it would on clean white, with no grey frame of paper around it.
    def picture(paper):
        rgba = np.zeros((400, 300, 4), dtype=np.uint8)  # transparent: white once composited
        if paper:
            rgba[30:370, 30:270] = (230, 225, 215, 255)
        rgba[100:300, 120:180] = (40, 40, 60, 255)
        return _encode(Image.fromarray(rgba, mode="RGBA"))

    on_paper = picture(paper=True)
    clean = picture(paper=False)
    got = picture_to_input(on_paper, (28, 28), SQUARE).reshape(28, 28)
    want = picture_to_input(clean, (28, 28), SQUARE).reshape(28, 28)
    assert np.abs(got - want).max() < 0.05
    assert got[0].max() == 0 and got[:, 0].max() == 0


def test_area_averaging_keeps_the_mean_ink() -> None:
    # A 2-px-wide vertical bar in a 280 px frame (fill 1): 0.2 px at 28 px, spread as grey.
    ink = np.zeros((280, 280), np.float32)
    ink[:, 139:141] = 1.0
    out = frame(ink, (28, 28), Framing(fill=1.0, stroke=0.1))
    # content 280 x 2 -> the frame is 280 x 280 again; the total ink scales by (28 / 280)^2
    assert out.sum() == pytest.approx(ink.sum() * (28 / 280) ** 2, rel=1e-4)


def test_measure_framing_reads_the_box_and_the_stroke_off_the_images() -> None:
    images = np.zeros((20, 28, 28), np.float32)
    images[:, 4:24, 12:15] = 1.0  # a 20 px tall, 3 px wide bar: MNIST's "1"
    framing = measure_framing(images)
    assert framing.fill == pytest.approx(20 / 28)
    # 2 * area / perimeter = 2 * 60 / 46: the width, a little under it for a short bar
    assert framing.stroke == pytest.approx(2 * 60 / 46 / 28)


def test_bad_uploads_get_a_sentence_not_a_traceback(monkeypatch) -> None:
    png = _encode(Image.fromarray(_dark_square_on_white()))
    with pytest.raises(ImageInputError, match="empty"):
        read_picture(b"")
    with pytest.raises(ImageInputError, match="not a PNG or JPEG image"):
        read_picture(b"this is not an image at all")
    with pytest.raises(ImageInputError, match="not a readable PNG or JPEG"):
        read_picture(png[: len(png) // 2])  # truncated
    with pytest.raises(ImageInputError, match="not a PNG or JPEG image"):  # never parsed
        read_picture(_encode(Image.fromarray(_dark_square_on_white()), "GIF"))
    with pytest.raises(ImageInputError, match="blank"):
        picture_to_input(_encode(Image.new("L", (40, 40), 255)), (28, 28))
    monkeypatch.setattr(image_input, "MAX_UPLOAD_BYTES", len(png) - 1)
    with pytest.raises(ImageInputError, match="MB"):
        read_picture(png)


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height grey pixels, with one tiny IDAT (never valid)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [7_000, 60_000])  # over our cap; over PIL's bomb limit too
def test_the_pixel_cap_is_checked_before_decoding(monkeypatch, side: int) -> None:
    # A header claiming side x side pixels over a few bytes: refused from the header alone
    # (decoding 7,000 x 7,000 would allocate 49 MB, 60,000 x 60,000 3.6 GB).
    def no_decoding(*_):
        raise AssertionError("decoded before the size check")

    monkeypatch.setattr(image_input, "_brightness", no_decoding)
    with pytest.raises(ImageInputError, match="pixels"):
        read_picture(_png_claiming(side, side))

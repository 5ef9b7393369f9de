"""Rule 3 of docs/SECURITY.md: an uploaded picture is decoded in the sandbox, under a memory
cap computed from what decoding it allocates (the padded canvas included), with its EXIF
orientation and a 16-bit grey PNG's transparent level honoured (issue #20)."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import viz.image_input as image_input
from runner.sandbox import parse_picture
from tests.test_draw_page import PAGE, ROOT, _active
from vae.data import DataError
from viz.image_input import DEFAULT_FRAMING, Framing, decode_memory, frame, picture_to_input

SQUARE = Framing(fill=0.9, stroke=0.1)


def _png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def _stripes(shape: tuple[int, int]) -> bytes:
    """A picture one pixel thin (or wide), half of it ink: a few hundred bytes of PNG."""
    pixels = np.full(shape, 255, np.uint8)
    pixels.flat[::2] = 0
    return _png(Image.fromarray(pixels), optimize=True)


@pytest.mark.parametrize("shape", [(1, 16_000), (16_000, 1), (1, 1_000_000)])
def test_a_thin_picture_is_framed_without_a_huge_canvas(shape: tuple[int, int]) -> None:
    """1 x 16,000 px (121 bytes) took the server from 764 MB to 2.6 GB; 1,000,000 x 1 (1 KB)
    was a MemoryError for 3.64 TiB: frame() padded to the model's aspect at full size."""
    data = _stripes(shape)
    assert len(data) < 2_000
    tracemalloc.start()
    x = picture_to_input(data, (28, 28), SQUARE)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20 and np.isfinite(x).all() and 0 < x.sum() < 1
    assert decode_memory(shape[1], shape[0], (28, 28), SQUARE) < 64 * 2**20


@pytest.mark.parametrize("shape", [(3, 2_000), (40, 900), (700, 60), (120, 120)])
def test_reducing_first_frames_as_the_full_canvas_does(shape, monkeypatch) -> None:
    """The independent computation: frame() with no reduction (the canvas at full size)."""
    rng = np.random.default_rng(0)
    ink = np.zeros((shape[0] + 20, shape[1] + 20), np.float32)
    ink[10:-10, 10:-10] = rng.random(shape) > 0.3
    reduced = frame(ink, (28, 28), SQUARE)
    monkeypatch.setattr(image_input, "CONTENT_OVERSAMPLING", 10**9)
    full = frame(ink, (28, 28), SQUARE)
    assert np.abs(reduced - full).max() < 0.05
    assert abs(float(reduced.sum()) - float(full.sum())) < 0.02 * float(full.sum()) + 1e-3


def test_the_sandbox_refuses_a_picture_over_its_memory_budget() -> None:
    data = _png(Image.new("L", (3000, 3000), 255))  # compresses to a few kB
    need = decode_memory(3000, 3000, (8, 8), DEFAULT_FRAMING)
    with pytest.raises(DataError, match="needs about .* MB to read"):
        parse_picture(data, "big.png", (8, 8), DEFAULT_FRAMING, memory_limit_mb=need // 2**20 - 1)


def test_the_sandbox_gives_what_the_pure_function_gives() -> None:
    pixels = np.full((60, 40), 255, np.uint8)
    pixels[10:50, 12:30] = 0
    data = _png(Image.fromarray(pixels))
    in_child = parse_picture(data, "shape.png", (28, 28), SQUARE)
    assert np.array_equal(in_child, picture_to_input(data, (28, 28), SQUARE))


def test_exif_orientation_is_honoured() -> None:
    """A phone's portrait photo: stored landscape, with EXIF Orientation 6 (turn 90° right)."""
    upright = np.full((60, 30), 255, np.uint8)
    upright[5:25, 5:25] = 0  # ink at the top only
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # as a sensor saves it
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif)
    want = picture_to_input(_png(Image.fromarray(upright)), (28, 28), SQUARE)
    got = picture_to_input(buffer.getvalue(), (28, 28), SQUARE)
    assert np.abs(got - want).max() < 0.1


def test_a_16_bit_grey_pngs_transparent_level_is_white() -> None:
    pixels = np.full((40, 40), 1000, np.uint16)  # a dark background, transparent by tRNS
    pixels[10:30, 10:30] = 30_000  # a mid-grey square, opaque
    image = Image.fromarray(pixels).convert("I;16")
    data = _png(image, transparency=1000)
    assert Image.open(io.BytesIO(data)).info.get("transparency") == 1000
    brightness = image_input.read_picture(data)
    assert brightness[0, 0] == 1.0  # the transparent background on white, not near-black
    assert brightness[20, 20] == pytest.approx(30_000 / 65535)


def test_the_draw_page_reads_a_thin_upload_in_the_sandbox(monkeypatch) -> None:
    """The page calls the sandbox: the server's own picture_to_input is never run."""

    def never(*args, **kwargs):
        raise AssertionError("decoded in the server")

    monkeypatch.setattr(image_input, "picture_to_input", never)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["vx_active_model"] = _active()
    at.run()
    at.switch_page(PAGE).run()
    at.file_uploader(key="draw_upload").set_value(("thin.png", _stripes((1, 16_000)), "image/png"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]

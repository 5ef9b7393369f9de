"""A picture from outside (an uploaded PNG/JPEG) -> the model's input: (H*W,) in [0, 1].

The datasets are white ink on black, framed in a fixed way: MNIST's digits fill a 20x20 box
inside 28x28, Fashion-MNIST's clothes and sklearn's 8x8 digits fill the whole frame. A picture
from a phone or a paint program is dark ink on white, any size, anywhere in its frame. So it
is made grey (alpha on white), inverted when its background is light, cropped to its content,
padded to the model's aspect with the content filling the fraction of the frame the training
images fill (`Framing`, measured from the data), and reduced by area averaging.

Pure: PIL and numpy in, numpy out. The drawing pad (ui/components/drawing_pad.js) frames its
strokes with the same `Framing`, so a drawing and an upload of the same shape agree.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 2**20  # a phone photo is 2-5 MB
# Checked on the header, before any pixel is decoded: 40 MP is any camera's photo. PIL's own
# decompression-bomb limit (89 MP warns, 179 MP raises) is far above what a page should decode.
MAX_UPLOAD_PIXELS = 40_000_000
FORMATS = ("PNG", "JPEG")
NOT_PNG_OR_JPEG = "the file is not a PNG or JPEG image (the only formats read)"
# Of the stretched range: fainter than this is not content (JPEG noise, paper darker than the
# border, as in a photo of a sheet on a table). Used alike on the training images and uploads.
INK_THRESHOLD = 0.25
# frame() pads the content to the model's aspect: a 1 x 16,000 line would pad to 17,778^2
# floats (1.3 GB), a 1,000,000 x 1 one to 3.6 TiB. Content longer than this many output
# pixels' worth is first reduced by area averaging, so the canvas has at most about
# (CONTENT_OVERSAMPLING * longer output side / fill)^2 pixels, whatever the input.
CONTENT_OVERSAMPLING = 16
# Bytes per input pixel that decoding may hold at once: PIL's decoded image and its RGBA
# conversion (4 + 4), the composite over white (4), grey (1), float32 brightness and ink
# (4 + 4), and the comparisons and crop of _content_box and frame (about 4): rounded up.
DECODE_BYTES_PER_PIXEL = 32


class ImageInputError(ValueError):
    """The picture cannot become the model's input; the message says why, for the user."""


@dataclass(frozen=True)
class Framing:
    """How the training images sit in their frame, as fractions of the frame's longer side."""

    fill: float  # the content's longer side: MNIST ~0.75 (20 of 28 px, plus blur), others ~1
    stroke: float  # the pen's width for the drawing pad: MNIST ~0.1 (2-3 px of 28)


DEFAULT_FRAMING = Framing(fill=0.9, stroke=0.1)


def measure_framing(images: np.ndarray, sample: int = 500) -> Framing:
    """The median framing of (N, H, W) images in [0, 1] (white on black), from at most `sample`.

    fill: the longer side of the bounding box of pixels above INK_THRESHOLD, over the frame's
    longer side. stroke: the ink's width, 2 * area / perimeter of the pixels above one half
    (a stroke of width w and length L has area wL and perimeter about 2L), over the frame's
    longer side, kept between 0.06 and 0.25 (solid shapes such as a shirt have no stroke).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or len(images) == 0:
        return DEFAULT_FRAMING
    step = max(1, len(images) // sample)
    images = images[::step][:sample]
    side = max(images.shape[1:])
    fills, strokes = [], []
    for img in images:
        box = _content_box(img, INK_THRESHOLD * max(float(img.max()), 1e-6))
        if box is None:
            continue
        top, bottom, left, right = box
        fills.append(max(bottom - top, right - left) / side)
        ink = img > 0.5 * img.max()
        perimeter = np.count_nonzero(np.diff(ink, axis=0, prepend=0, append=0))
        perimeter += np.count_nonzero(np.diff(ink, axis=1, prepend=0, append=0))
        if perimeter:
            strokes.append(2 * np.count_nonzero(ink) / perimeter / side)
    if not fills:
        return DEFAULT_FRAMING
    stroke = float(np.clip(np.median(strokes), 0.06, 0.25)) if strokes else DEFAULT_FRAMING.stroke
    return Framing(fill=float(np.clip(np.median(fills), 0.3, 1.0)), stroke=stroke)


def read_picture(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> (H0, W0) float32 brightness in [0, 1]: alpha composited on white.

    Modes: L, LA, RGB, RGBA, P (with or without transparency), I;16 and I (16-bit grey,
    scaled by 65535), 1 (bilevel). Sizes are checked before decoding.
    """
    if not data:
        raise ImageInputError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(
            f"the file is {len(data) / 2**20:.1f} MB; at most {MAX_UPLOAD_BYTES // 2**20} MB "
            "are accepted"
        )
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            if image.format not in FORMATS:
                raise ImageInputError(f"this is a {image.format} file, not a PNG or JPEG image")
            width, height = image.size  # from the header: nothing is decoded yet
            if width * height > MAX_UPLOAD_PIXELS:
                raise ImageInputError(
                    f"the picture is {width}x{height} = {width * height:,} pixels; at most "
                    f"{MAX_UPLOAD_PIXELS:,} are accepted: make it smaller"
                )
            # A phone stores a portrait photo as landscape with an EXIF note to turn it.
            return _brightness(ImageOps.exif_transpose(image))
    except ImageInputError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageInputError(f"the picture claims far too many pixels ({err})") from err
    except UnidentifiedImageError:  # its message names a BytesIO and its address
        raise ImageInputError(NOT_PNG_OR_JPEG) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageInputError(f"the file is not a readable PNG or JPEG image ({err})") from err


def picture_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header alone; ImageInputError for what read_picture refuses."""
    try:
        # Only the PNG and JPEG plugins look at the bytes: a GIF, WebP, TIFF or any other of
        # PIL's formats, even named .png, is refused by its header, never parsed further.
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            return image.size
    except UnidentifiedImageError:
        raise ImageInputError(NOT_PNG_OR_JPEG) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageInputError(f"the file is not a readable PNG or JPEG image ({err})") from err


def decode_memory(width: int, height: int, image_shape: tuple[int, int],
                  framing: Framing = DEFAULT_FRAMING) -> int:  # fmt: skip
    """Bytes picture_to_input() allocates at most for a width x height picture: the decoded
    picture's steps, and frame()'s padded canvas (bounded by CONTENT_OVERSAMPLING)."""
    side = CONTENT_OVERSAMPLING * max(image_shape) / framing.fill
    canvas = (side + 1) ** 2 * 4 * 2  # the canvas and PIL's copy of it
    return int(width * height * DECODE_BYTES_PER_PIXEL + canvas)


def _brightness(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        raw = np.asarray(image.convert("I"), dtype=np.float64)
        values = np.clip(raw / 65535.0, 0, 1).astype(np.float32)
        transparent = image.info.get("transparency")
        if isinstance(transparent, int):  # a 16-bit grey PNG's tRNS: one grey level is clear
            values[raw == transparent] = 1.0  # on white, as every transparent pixel
        return values
    if image.mode == "P":
        image = image.convert("RGBA")  # applies a transparent palette entry, if any
    if image.mode in ("LA", "RGBA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def to_ink(brightness: np.ndarray) -> np.ndarray:
    """(H0, W0) brightness -> ink in [0, 1], white on black as in the datasets.

    Inverted when the border (the background, for any picture of one thing) is light, then
    stretched so that the background becomes 0 and the strongest ink 1.
    """
    b = np.asarray(brightness, dtype=np.float32)
    border = np.concatenate([b[0], b[-1], b[:, 0], b[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        b, background = 1.0 - b, 1.0 - background
    top = float(b.max())
    if top - background < 1e-3:
        return np.zeros_like(b)
    return np.clip((b - background) / (top - background), 0.0, 1.0)


def frame(ink: np.ndarray, image_shape: tuple[int, int], framing: Framing) -> np.ndarray:
    """(H0, W0) ink -> (H, W): cropped to its content, the paper around it made black, padded
    so that the content's longer side is `framing.fill` of the frame and centred, reduced by
    area averaging (PIL's BOX)."""
    h, w = image_shape
    box = _content_box(ink, INK_THRESHOLD)
    if box is None:
        raise ImageInputError("the picture is blank: nothing stands out from its background")
    top, bottom, left, right = box
    content = ink[top:bottom, left:right]
    # What surrounds the content inside its box is paper, not ink: a sheet photographed on a
    # table is lighter than the table and would come out as a grey frame. Its level (the
    # median of the box's edge; 0 for clean data) becomes black.
    edge = np.concatenate([content[0], content[-1], content[:, 0], content[:, -1]])
    paper = float(np.median(edge))
    if 0 < paper < 0.5:
        content = np.clip((content - paper) / (1 - paper), 0.0, 1.0)
    content = _reduced(content, CONTENT_OVERSAMPLING * max(h, w))
    ch, cw = content.shape
    # The padded canvas has the model's aspect; the content's longer side (relative to the
    # frame) is `fill` of it.
    scale = framing.fill * min(h / ch, w / cw)  # output pixels per input pixel
    canvas_h = max(ch, round(h / scale))
    canvas_w = max(cw, round(w / scale))
    canvas = np.zeros((canvas_h, canvas_w), dtype=np.float32)
    y0, x0 = (canvas_h - ch) // 2, (canvas_w - cw) // 2
    canvas[y0 : y0 + ch, x0 : x0 + cw] = content
    reduced = Image.fromarray(canvas, mode="F").resize((w, h), Image.BOX)
    return np.clip(np.asarray(reduced, dtype=np.float32), 0.0, 1.0)


def picture_to_input(
    data: bytes, image_shape: tuple[int, int], framing: Framing = DEFAULT_FRAMING
) -> np.ndarray:
    """Uploaded PNG/JPEG bytes -> the model's input (H*W,) float32 in [0, 1]."""
    return frame(to_ink(read_picture(data)), image_shape, framing).ravel()


def _reduced(content: np.ndarray, longest: int) -> np.ndarray:
    """`content` reduced by area averaging so that its longer side is at most `longest` pixels,
    the aspect kept; as it is when already that small. A side cannot shrink below one pixel:
    the ink is then weighed down by what that pixel stands for (a line 0.03 px thin once
    reduced is one pixel at 3 %), so the framed result is the one the full canvas gives."""
    ch, cw = content.shape
    factor = longest / max(ch, cw)
    if factor >= 1:
        return content
    width, height = max(1, round(cw * factor)), max(1, round(ch * factor))
    reduced = Image.fromarray(np.ascontiguousarray(content), mode="F").resize(
        (width, height), Image.BOX
    )
    weight = min(1.0, ch * factor / height) * min(1.0, cw * factor / width)
    return np.asarray(reduced, dtype=np.float32) * np.float32(weight)


def _content_box(img: np.ndarray, threshold: float) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), bottom/right exclusive, of the pixels above threshold."""
    rows = np.flatnonzero((img > threshold).any(axis=1))
    cols = np.flatnonzero((img > threshold).any(axis=0))
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1

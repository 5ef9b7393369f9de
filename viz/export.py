"""Exports: the latent coordinates of a dataset as CSV, decoded grids and sample galleries as
PNG, an interpolation as a strip (PNG) or an animation (GIF) sized for a slide, with its t
values and an optional label drawn in."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .plots import display_factor, image_grid, to_png_bytes, to_uint8

SLIDE_PICTURE_PX = 512  # the GIF's picture: a slide's worth, whatever the image's own size
STRIP_TILE_PX = 224  # each frame of the strip (8 frames: 1,850 px, a slide's width)
LABEL_CHARS = 80  # a label longer than this is cut (it is one line over the picture)
_TEXT_SHARE = 0.09  # the text's height, relative to the picture it labels


def latent_csv(
    mu: np.ndarray,
    sigma: np.ndarray,
    kl: np.ndarray,
    recon_nll: np.ndarray,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> str:
    """One row per example: index, label, mu (k columns), sigma (k columns), KL, -log p(x|z=mu).

    KL and recon_nll (the latter decoded from mu) are in nats.

    Class labels are written as their names when the dataset has names; continuous labels as
    numbers; no labels as an empty column (kept so that every export has the same columns).
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    n, k = mu.shape
    for name, column in (("sigma", sigma), ("kl", kl), ("recon_nll", recon_nll)):
        if len(column) != n:
            raise ValueError(f"{name} has {len(column)} rows for {n} examples")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels has {len(labels)} rows for {n} examples")
    header = [
        "index",
        "label",
        *(f"mu_{d + 1}" for d in range(k)),
        *(f"sigma_{d + 1}" for d in range(k)),
        "kl",
        "recon_nll",
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for i in range(n):
        if labels is None:
            label: str = ""
        elif class_names is not None and np.issubdtype(np.asarray(labels).dtype, np.integer):
            c = int(labels[i])
            label = class_names[c] if 0 <= c < len(class_names) else str(c)
        else:
            label = (
                f"{labels[i]:.6g}"
                if isinstance(labels[i], (float, np.floating))
                else str(labels[i])
            )
        writer.writerow(
            [
                i,
                label,
                *(f"{v:.6g}" for v in mu[i]),
                *(f"{v:.6g}" for v in sigma[i]),
                f"{float(kl[i]):.6g}",
                f"{float(recon_nll[i]):.6g}",
            ]
        )
    return buffer.getvalue()


def grid_png(decoded: np.ndarray, image_shape: tuple[int, int], gap: int = 1) -> bytes:
    """A decoded latent grid (ny, nx, D), row 0 at the lowest z2, -> PNG with the highest z2 on top
    (the orientation of the latent map and of Kingma & Welling's Fig. 4)."""
    ny, nx, d = decoded.shape
    h, w = image_shape
    if h * w != d:
        raise ValueError(f"image shape {image_shape} does not match {d} values per example")
    images = decoded.reshape(ny, nx, h, w)[::-1]  # flip rows: top of the picture = largest z2
    return to_png_bytes(image_grid(images, gap=gap), scale=display_factor(image_shape, 56))


def gallery_png(images: np.ndarray, image_shape: tuple[int, int], cols: int, gap: int = 1) -> bytes:
    """(n, D) decoded samples -> a PNG gallery of `cols` columns (missing cells left white)."""
    n, d = images.shape
    h, w = image_shape
    rows = -(-n // cols)
    padded = np.ones((rows * cols, d), np.float32)
    padded[:n] = images
    tiles = padded.reshape(rows, cols, h, w)
    return to_png_bytes(image_grid(tiles, gap=gap), scale=display_factor(image_shape, 56))


def picture(x: np.ndarray, image_shape: tuple[int, int], pixels: int) -> Image.Image:
    """One flattened example (D,) -> a greyscale picture at least `pixels` on its larger side,
    upscaled nearest-neighbour by a whole factor. Values in [0, 1] are drawn as they are
    (decoded Bernoulli means); others (Gaussian means of standardised data) are stretched to
    the full range, so that contrast survives."""
    h, w = image_shape
    arr = np.asarray(x, dtype=np.float32).reshape(h, w)
    finite = arr[np.isfinite(arr)]
    if finite.size and (finite.min() < -0.05 or finite.max() > 1.05):
        span = float(finite.max() - finite.min()) or 1.0
        arr = (arr - finite.min()) / span
    scale = max(1, -(-pixels // max(h, w)))
    return Image.fromarray(to_uint8(arr), mode="L").resize((w * scale, h * scale), Image.NEAREST)


def _font(height: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans where the system has it (it draws arrows, Greek and accents in a label),
    else Pillow's own font (Latin only)."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", max(12, height))
    except OSError:
        return ImageFont.load_default(size=max(12, height))


def _clean(label: str | None) -> str:
    """A label as one printable line (it is drawn, never interpreted)."""
    text = " ".join("".join(c if c.isprintable() else " " for c in (label or "")).split())
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _labelled(tile: Image.Image, caption: str, title: str = "") -> Image.Image:
    """`tile` on white with `caption` centred under it and `title` (if any) over it."""
    size = max(12, round(_TEXT_SHARE * tile.height))
    band = round(1.6 * size)
    top = band if title else 0
    out = Image.new("L", (tile.width, top + tile.height + band), 255)
    out.paste(tile, (0, top))
    draw = ImageDraw.Draw(out)
    font = _font(size)
    if title:
        draw.text((tile.width / 2, band / 2), title, fill=0, font=font, anchor="mm")
    draw.text((tile.width / 2, top + tile.height + band / 2), caption, fill=0, font=font,
              anchor="mm")  # fmt: skip
    return out


def t_label(t: float) -> str:
    """How a frame's place on the path is written: t = 0 at the first waypoint, 1 at the last."""
    return f"t = {t:.2f}"


def interpolation_strip_png(
    images: np.ndarray,
    ts: Sequence[float],
    image_shape: tuple[int, int],
    label: str | None = None,
    tile: int = STRIP_TILE_PX,
    gap: int = 8,
) -> bytes:
    """K frames (K, D) along a path, side by side, each `tile` px with its t under it, and the
    label (if any) over the strip: a picture for a slide."""
    if len(images) != len(ts):
        raise ValueError(f"{len(images)} frames for {len(ts)} t values")
    tiles = [
        _labelled(picture(x, image_shape, tile), t_label(t))
        for x, t in zip(images, ts, strict=True)
    ]
    w, h = tiles[0].size
    title = _clean(label)
    size = max(12, round(_TEXT_SHARE * tiles[0].width))
    top = round(1.8 * size) if title else 0
    strip = Image.new("L", (len(tiles) * (w + gap) - gap, top + h), 255)
    for i, frame in enumerate(tiles):
        strip.paste(frame, (i * (w + gap), top))
    if title:
        ImageDraw.Draw(strip).text((8, top / 2), title, fill=0, font=_font(size), anchor="lm")
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG")
    return buffer.getvalue()


def interpolation_gif(
    images: np.ndarray,
    ts: Sequence[float],
    image_shape: tuple[int, int],
    label: str | None = None,
    pixels: int = SLIDE_PICTURE_PX,
    frame_ms: int = 50,
) -> bytes:
    """K frames (K, D) along a path as a looping GIF, played forwards then back: each picture
    at least `pixels` px, its t under it, the label (if any) over it."""
    if len(images) != len(ts):
        raise ValueError(f"{len(images)} frames for {len(ts)} t values")
    title = _clean(label)
    frames = [
        _labelled(picture(x, image_shape, pixels), t_label(t), title).convert("P")
        for x, t in zip(images, ts, strict=True)
    ]
    frames = frames + frames[-2:0:-1]  # ping-pong: the loop has no jump back to the start
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0
    )
    return buffer.getvalue()


__all__ = [
    "gallery_png",
    "grid_png",
    "interpolation_gif",
    "interpolation_strip_png",
    "latent_csv",
    "picture",
    "t_label",
]

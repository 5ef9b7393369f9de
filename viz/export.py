"""Exports: the latent coordinates of a dataset as CSV, decoded grids and sample galleries as PNG."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np

from .plots import display_factor, image_grid, to_png_bytes


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


__all__ = ["gallery_png", "grid_png", "latent_csv"]

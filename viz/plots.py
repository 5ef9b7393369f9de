"""Pure plot and image builders: numpy / plain data in, plotly Figures or PNG bytes out.

No models and no Streamlit here, so every builder is trivial to test. Images are (H, W) floats
in [0, 1] (0 = black); tiny ones (8x8 digits) are upscaled with nearest-neighbour so each
pixel stays a crisp square instead of being blurred by the browser.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from .latent_map import PALETTE, compact_legend, ellipse_xy

TRAIN_COLOR = PALETTE[0]
TEST_COLOR = "#d62728"
# (history key suffix, panel title): one panel per term of the ELBO.
LOSS_PANELS = (
    ("elbo", "ELBO (nats, higher is better)"),
    ("recon", "reconstruction −𝔼<sub>q</sub>[log p(x|z)]"),
    ("kl", "KL(q(z|x) ‖ p(z))"),
)


def loss_curves(history: Sequence[dict], height: int = 300, stacked: bool = False) -> go.Figure:
    """Train (solid) and test (dashed) ELBO, reconstruction and KL per epoch.

    Side by side, or `stacked` in one column with a shared epoch axis (for a narrow column).

    `history` is vae.train's list of per-epoch dicts (keys epoch, train_elbo, test_elbo, ...);
    test values may be missing in some epochs (test_every > 1) and are skipped there.
    """
    n = len(LOSS_PANELS)
    fig = make_subplots(
        rows=n if stacked else 1,
        cols=1 if stacked else n,
        subplot_titles=[t for _, t in LOSS_PANELS],
        shared_xaxes=stacked,
        vertical_spacing=0.09,
    )
    for i, (term, _) in enumerate(LOSS_PANELS, start=1):
        row, col = (i, 1) if stacked else (1, i)
        for split, color, dash in (("train", TRAIN_COLOR, "solid"), ("test", TEST_COLOR, "dash")):
            key = f"{split}_{term}"
            points = [(h["epoch"], h[key]) for h in history if key in h]
            if not points:
                continue
            epochs, values = zip(*points, strict=True)
            fig.add_trace(
                go.Scatter(
                    # Arrays, not lists: plotly validates a list element by element (the live
                    # Train page rebuilds these curves while other sessions wait on the GIL).
                    x=np.asarray(epochs),
                    y=np.asarray(values, dtype=np.float64),
                    mode="lines+markers" if len(points) < 40 else "lines",
                    marker=dict(size=4),
                    line=dict(color=color, dash=dash, width=2),
                    name=split,
                    legendgroup=split,
                    showlegend=i == 1,
                    hovertemplate=f"{split} {term}<br>epoch %{{x}}: %{{y:.2f}}<extra></extra>",
                ),
                row=row,
                col=col,
            )
        if not stacked or i == n:
            fig.update_xaxes(title_text="epoch", row=row, col=col)
    epochs = [h["epoch"] for h in history if isinstance(h.get("epoch"), (int, float))]
    if epochs and max(epochs) - min(epochs) <= 10:
        # Left alone, Plotly ticks a short run at 1, 1.5, 2, 2.5: there is no epoch 1.5.
        fig.update_xaxes(tick0=0, dtick=1)
    fig.update_layout(
        height=height,
        margin=dict(l=40, r=10, t=40, b=40),
        legend=compact_legend(),  # under the plot: never under the toolbar
        hovermode="x unified",
    )
    fig.update_annotations(font_size=13)
    return fig


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Intensities in [0, 1] (any shape) -> uint8 grey levels: clipped, rounded to nearest, NaN as 0.

    The one quantiser of the project: every picture (PNG downloads, the manifold, the decode
    panel) and the browser's own decoder (ui/components/map_decoder.js) round the same way.
    """
    clipped = np.clip(np.nan_to_num(np.asarray(images, dtype=np.float32)), 0.0, 1.0)
    return (clipped * 255 + 0.5).astype(np.uint8)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling (H, W) -> (H*factor, W*factor): crisp pixels."""
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


def display_factor(image_shape: tuple[int, int], target: int = 112) -> int:
    """The integer factor that brings the image's larger side to about `target` pixels."""
    return max(1, round(target / max(image_shape)))


def image_strip(images: np.ndarray, gap: int = 1, gap_value: float = 1.0) -> np.ndarray:
    """(N, H, W) -> one row (H, N*W + (N-1)*gap), images separated by `gap` light pixels."""
    return image_grid(np.asarray(images)[None], gap=gap, gap_value=gap_value)


def image_grid(images: np.ndarray, gap: int = 1, gap_value: float = 1.0) -> np.ndarray:
    """(R, C, H, W) -> one tiled image (R*H + (R-1)*gap, C*W + (C-1)*gap); row 0 on top."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (R, C, H, W), got {images.shape}")
    rows, cols, h, w = images.shape
    out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap), gap_value, np.float32)
    for r in range(rows):
        for c in range(cols):
            top, left = r * (h + gap), c * (w + gap)
            out[top : top + h, left : left + w] = images[r, c]
    return out


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    """A picture as PNG bytes: uint8 (H, W) grey or (H, W, 3|4) colour, or a PIL image."""
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.ascontiguousarray(image))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def to_png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """(H, W) floats in [0, 1] -> greyscale PNG bytes, upscaled by `scale` (nearest-neighbour).

    PNG, not JPEG: JPEG smears the hard edges of tiny decoded digits.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a (H, W) image, got shape {image.shape}")
    return png_bytes(upscale(to_uint8(image), scale))  # (H, W) uint8: 8-bit greyscale ("L")


def bubble_sketch(
    mu: np.ndarray, sigma: np.ndarray, labels: Sequence[str], height: int = 330
) -> go.Figure:
    """Posterior bubbles N(mu_i, diag sigma_i^2), (n, 2) each, over the prior's 1σ and 2σ circles.

    A didactic picture for Home: each bubble is one example's q(z|x), drawn at 1σ in latent
    units. All SVG: a WebGL trace here would make Home create a WebGL context that the digits
    map (SVG up to 5,000 points) never uses, ~0.4-0.8 s of Chromium's main thread in software
    GL before Home takes a click (measured: 584-1165 ms vs 178-351 ms for this figure).
    """
    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
    fig = go.Figure()
    for radius, name in ((1.0, "prior N(0, I): 1σ and 2σ"), (2.0, "2σ")):
        xs, ys = ellipse_xy(np.zeros(2), np.array([radius, radius]), 96)
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines", name=name, hoverinfo="skip", showlegend=radius == 1.0,
                line=dict(color="rgba(90,90,90,0.6)", dash="dot", width=1.5),
            )
        )  # fmt: skip
    palette = PALETTE
    if not len(mu) == len(sigma) == len(labels):
        raise ValueError("mu, sigma and labels need one row each per bubble")
    for i, (center, radii, label) in enumerate(zip(mu, sigma, labels, strict=True)):
        color = palette[i % len(palette)]
        xs, ys = ellipse_xy(center, radii)
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines", fill="toself", fillcolor=color, opacity=0.25,
                line=dict(color=color, width=1), hoverinfo="skip", showlegend=False, name=label,
            )
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=mu[:, 0],
            y=mu[:, 1],
            mode="markers+text",
            text=list(labels),
            textposition="top center",
            marker=dict(size=7, color=[palette[i % len(palette)] for i in range(len(mu))]),
            customdata=sigma,
            hovertemplate="μ = (%{x:.2f}, %{y:.2f})<br>σ = (%{customdata[0]:.2f}, "
            "%{customdata[1]:.2f})<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_xaxes(range=[-2.6, 2.6], zeroline=False, title_text="z₁")
    fig.update_yaxes(range=[-2.3, 2.3], scaleanchor="x", zeroline=False, title_text="z₂")
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=10, b=10),
        legend=dict(
            orientation="h", yanchor="bottom", y=0.0, x=0.0, bgcolor="rgba(255,255,255,0.6)"
        ),
    )
    return fig

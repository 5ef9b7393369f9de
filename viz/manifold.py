"""Manifold & samples: a decoded latent grid as one mosaic image pinned to latent coordinates.

The same picture can sit beside the latent map (same axes) or under it (same plot).
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .plots import png_bytes, to_uint8


def pin_image(
    fig: go.Figure,
    source: str,
    x_extent: tuple[float, float],
    y_extent: tuple[float, float],
    opacity: float = 1.0,
    layer: str = "below",
    row: int | None = None,
    col: int | None = None,
) -> go.Figure:
    """Stretch a picture (a data: URI) over a rectangle in data units of `fig`, so that it pans
    and zooms with the data (in place; returns fig)."""
    fig.add_layout_image(
        source=source,
        xref="x",
        yref="y",
        x=x_extent[0],
        y=y_extent[1],
        sizex=x_extent[1] - x_extent[0],
        sizey=y_extent[1] - y_extent[0],
        sizing="stretch",
        layer=layer,
        opacity=opacity,
        row=row,
        col=col,
    )
    return fig


def cell_edges(values: np.ndarray) -> np.ndarray:
    """Edges (n+1,) of the cells around sorted axis values (n,): midpoints, ends half a step out.

    For a Gaussian-quantile grid the cells are narrow near 0 and wide in the tails, so each
    decoded tile covers exactly the part of the plane nearest to the z it was decoded from.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    mid = (values[1:] + values[:-1]) / 2
    return np.concatenate([[2 * values[0] - mid[0]], mid, [2 * values[-1] - mid[-1]]])


def latent_mosaic(
    images: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    pixels: int | None = None,
    gap: float = 0.06,
) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """Decoded grid (ny, nx, H, W) at axis values xs, ys -> an RGBA picture in latent units.

    Returns (image (P_h, P_w, 4) uint8 with row 0 at the top, x extent, y extent): every output
    pixel shows the tile whose cell contains it, resampled nearest-neighbour, so the picture can
    be laid on the latent plane with a layout image whatever the spacing (linear or quantile).
    A thin white line (`gap`, a fraction of each cell) separates the tiles, as in a printed grid:
    without it neighbouring tiles, which look alike, merge into one texture.
    """
    images = np.asarray(images, dtype=np.float32)
    ny, nx, h, w = images.shape
    x_edges, y_edges = cell_edges(xs), cell_edges(ys)
    x_extent = (float(x_edges[0]), float(x_edges[-1]))
    y_extent = (float(y_edges[0]), float(y_edges[-1]))
    if pixels is None:  # about 5 output pixels per decoded pixel of an average tile
        pixels = int(np.clip(5 * max(nx * w, ny * h), 512, 1600))
    width = pixels
    height = max(1, int(round(pixels * (y_extent[1] - y_extent[0]) / (x_extent[1] - x_extent[0]))))
    # Centre of each output column/row in latent units; row 0 is the top (largest z2).
    px = x_extent[0] + (np.arange(width) + 0.5) / width * (x_extent[1] - x_extent[0])
    py = y_extent[1] - (np.arange(height) + 0.5) / height * (y_extent[1] - y_extent[0])
    col_tile = np.clip(np.searchsorted(x_edges, px, side="right") - 1, 0, nx - 1)  # (P_w,)
    row_tile = np.clip(np.searchsorted(y_edges, py, side="right") - 1, 0, ny - 1)  # (P_h,)
    col_frac = (px - x_edges[col_tile]) / (x_edges[col_tile + 1] - x_edges[col_tile])
    row_frac = (y_edges[row_tile + 1] - py) / (y_edges[row_tile + 1] - y_edges[row_tile])
    # Shrink each tile by the gap so the picture stays centred in its cell.
    col_inner = (col_frac - gap / 2) / (1 - gap)
    row_inner = (row_frac - gap / 2) / (1 - gap)
    col_pix = np.clip((col_inner * w).astype(int), 0, w - 1)
    row_pix = np.clip((row_inner * h).astype(int), 0, h - 1)
    gray = to_uint8(
        images[row_tile[:, None], col_tile[None, :], row_pix[:, None], col_pix[None, :]]
    )
    in_gap = ((col_inner < 0) | (col_inner >= 1))[None, :] | ((row_inner < 0) | (row_inner >= 1))[
        :, None
    ]
    gray[in_gap] = 255
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., :3] = gray[..., None]
    rgba[..., 3] = 255
    return rgba, x_extent, y_extent


def data_uri(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()


def add_mosaic_image(
    fig: go.Figure,
    mosaic: np.ndarray,
    x_extent: tuple[float, float],
    y_extent: tuple[float, float],
    opacity: float = 1.0,
    layer: str = "below",
    row: int | None = None,
    col: int | None = None,
) -> go.Figure:
    """Pin a latent_mosaic picture to data coordinates of `fig` (in place; returns fig)."""
    return pin_image(fig, data_uri(mosaic), x_extent, y_extent, opacity, layer, row, col)


def add_prior_samples(fig: go.Figure, z: np.ndarray) -> go.Figure:
    """Numbered markers at the prior samples z (S, 2), drawn above the data points (in place).

    Plotly draws WebGL traces on a canvas above every SVG trace, so above a map of 10k WebGL
    points an SVG marker would be hidden under them: the samples take the points' own trace
    type, and come after them.
    """
    gl = any(isinstance(t, go.Scattergl) for t in fig.data)
    trace = go.Scattergl if gl else go.Scatter
    fig.add_trace(
        trace(
            x=z[:, 0],
            y=z[:, 1],
            mode="markers+text",
            text=[str(i + 1) for i in range(len(z))],
            textposition="top center",
            textfont=dict(color="black"),
            marker=dict(symbol="x", size=11, color="black", line=dict(color="white", width=1)),
            name="samples",
            hovertemplate="sample %{text}: z = (%{x:.2f}, %{y:.2f})<extra></extra>",
        )
    )
    return fig


def manifold_beside_map(
    map_figure: go.Figure,
    mosaic: np.ndarray,
    x_extent: tuple[float, float],
    y_extent: tuple[float, float],
    xs: np.ndarray,
    ys: np.ndarray,
    height: int = 560,
    font_size: int = 12,
) -> go.Figure:
    """The latent map (left) and the decoded grid in latent coordinates (right), one figure.

    The two panels share both axes (same ranges, same scale, linked zoom and pan), so a region
    of the scatter sits level with what the decoder makes of it, and zooming into a cluster on
    one side zooms the other. `map_figure` is a latent_map_figure; its traces are reused as is.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.03, shared_yaxes=True)
    for trace in map_figure.data:
        fig.add_trace(trace, row=1, col=1)
    gx, gy = np.meshgrid(xs, ys)
    fig.add_trace(
        go.Scatter(
            x=gx.ravel(),
            y=gy.ravel(),
            mode="markers",
            marker=dict(size=6, color="rgba(0,0,0,0)"),
            hovertemplate="decoded from z = (%{x:.2f}, %{y:.2f})<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    add_mosaic_image(fig, mosaic, x_extent, y_extent, row=1, col=2)
    x_range = list(map_figure.layout.xaxis.range)
    y_range = list(map_figure.layout.yaxis.range)
    fig.update_xaxes(range=x_range, title="z₁", zeroline=False, showgrid=True, gridcolor="#eee")
    fig.update_xaxes(matches="x", row=1, col=2)
    fig.update_yaxes(
        range=y_range,
        zeroline=False,
        showgrid=True,
        gridcolor="#eee",
        scaleanchor="x",
        scaleratio=1,
    )
    fig.update_yaxes(title="z₂", row=1, col=1)
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=round(4 * font_size), b=10),
        plot_bgcolor="white",
        font=dict(size=font_size),
        showlegend=False,
        hovermode="closest",
        dragmode="zoom",
        # Each title on two short lines: on one, they ran into each other at 1000 px.
        annotations=[
            dict(text=t, x=x, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False)
            for t, x in (
                ("latent map:<br>test-set means μ", 0.24),
                ("decoded E[x | z]<br>on the grid", 0.76),
            )
        ],
    )
    return fig


__all__ = [
    "add_mosaic_image",
    "add_prior_samples",
    "cell_edges",
    "data_uri",
    "latent_mosaic",
    "manifold_beside_map",
    "png_bytes",
    "to_uint8",
]

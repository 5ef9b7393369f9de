"""Pure builders for the explore pages: numpy in, images or plotly Figures out.

Decoded grids become one mosaic image pinned to latent coordinates, so the same picture can sit
beside the latent map (same axes) or under it (same plot). Nothing here knows of models or of
Streamlit; class colours come from the latent map's palette so every page agrees.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from .explore_density import DensityGrid, Hole, KLForces
from .latent_figure import PALETTE


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Pixel intensities in [0, 1] (any shape) -> uint8, clipped."""
    return (np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


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


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 (H, W) grey or (H, W, 3|4) colour -> PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


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
    fig.add_layout_image(
        source=data_uri(mosaic),
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
        margin=dict(l=10, r=10, t=30, b=10),
        plot_bgcolor="white",
        font=dict(size=font_size),
        showlegend=False,
        hovermode="closest",
        dragmode="zoom",
        annotations=[
            dict(text=t, x=x, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False)
            for t, x in (
                ("latent map: test-set means μ", 0.24),
                ("decoded E[x | z] on the grid", 0.76),
            )
        ],
    )
    return fig


def class_colors(labels: np.ndarray) -> dict[int, str]:
    """{class id: colour} exactly as the latent map assigns them (sorted ids, PALETTE order)."""
    return {int(c): PALETTE[i % len(PALETTE)] for i, c in enumerate(np.unique(labels.astype(int)))}


def surface_3d_figure(
    points: np.ndarray,
    color: np.ndarray | None,
    surface: np.ndarray,
    surface_color: np.ndarray | None = None,
    marker: np.ndarray | None = None,
    height: int = 620,
    show_points: bool = True,
    show_surface: bool = True,
    font_size: int = 12,
) -> go.Figure:
    """Data in input space (N, 3) coloured by position on the manifold, with the decoder's image
    of a latent grid (ny, nx, 3) as a surface mesh, and optionally one marked decoded point (3,).

    surface_color (ny, nx), on the same scale as `color`, e.g. the position the nearest encoded
    points have: where the model has unrolled the manifold, surface and points agree in colour.
    """
    points = np.asarray(points, dtype=np.float32)
    surface = np.asarray(surface, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3 or surface.ndim != 3 or surface.shape[2] != 3:
        raise ValueError("the 3-D picture needs points (N, 3) and a surface (ny, nx, 3)")
    fig = go.Figure()
    if show_surface:
        fig.add_trace(
            go.Surface(
                x=surface[..., 0],
                y=surface[..., 1],
                z=surface[..., 2],
                surfacecolor=surface_color,
                colorscale="Greys" if surface_color is None else "Viridis",
                # The data's colour range, so the surface and the points share one scale.
                cmin=float(np.min(color))
                if surface_color is not None and color is not None
                else None,
                cmax=float(np.max(color))
                if surface_color is not None and color is not None
                else None,
                showscale=False,
                opacity=0.55,
                name="decoded surface g(z)",
                showlegend=True,
                hoverinfo="skip",
                contours=dict(
                    x=dict(highlight=False), y=dict(highlight=False), z=dict(highlight=False)
                ),
            )
        )
        # The latent grid lines mapped through the decoder: shows how the plane is bent.
        lines_x, lines_y, lines_z = [], [], []
        for grid_line in (
            *surface[:: max(1, len(surface) // 10)],
            *surface.transpose(1, 0, 2)[:: max(1, surface.shape[1] // 10)],
        ):
            lines_x += [*grid_line[:, 0], None]
            lines_y += [*grid_line[:, 1], None]
            lines_z += [*grid_line[:, 2], None]
        fig.add_trace(
            go.Scatter3d(
                x=lines_x,
                y=lines_y,
                z=lines_z,
                mode="lines",
                line=dict(color="rgba(40,40,40,0.45)", width=2),
                name="latent grid lines",
                hoverinfo="skip",
            )
        )
    if show_points:
        fig.add_trace(
            go.Scatter3d(
                x=points[:, 0],
                y=points[:, 1],
                z=points[:, 2],
                mode="markers",
                marker=dict(
                    size=2.5,
                    color=color if color is not None else "#1f77b4",
                    colorscale="Viridis",
                    opacity=0.85,
                    colorbar=dict(title=dict(text="position"), thickness=10, len=0.6)
                    if color is not None
                    else None,
                ),
                name="data x",
                hoverinfo="skip",
            )
        )
    if marker is not None:
        m = np.asarray(marker, dtype=np.float32).reshape(3)
        fig.add_trace(
            go.Scatter3d(
                x=[m[0]],
                y=[m[1]],
                z=[m[2]],
                mode="markers",
                marker=dict(
                    size=9, color="red", symbol="diamond", line=dict(color="black", width=2)
                ),
                name="decoded clicked z",
                hovertemplate="g(z) = (%{x:.2f}, %{y:.2f}, %{z:.2f})<extra></extra>",
            )
        )
    fig.update_layout(
        height=height,
        margin=dict(l=0, r=0, t=10, b=0),
        font=dict(size=font_size),
        legend=dict(x=0, y=1, bgcolor="rgba(255,255,255,0.7)"),
        # Constant: Plotly keeps the user's camera while the figure is updated (a new marker).
        uirevision="surface-3d",
        scene=dict(aspectmode="data", xaxis_title="x₁", yaxis_title="x₂", zaxis_title="x₃"),
    )
    return fig


def density_figure(
    grid: DensityGrid,
    holes: Sequence[Hole] = (),
    hole_mask: np.ndarray | None = None,
    height: int = 520,
    font_size: int = 12,
) -> go.Figure:
    """Two panels on the same axes: log q(z) with the prior's 1-2-3σ circles, and log q/p with
    the holes (q < ratio * p inside the prior's bulk) outlined and numbered."""
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.08,
        subplot_titles=(
            "aggregate posterior log q(z)",
            "log q(z) / p(z)  (blue: q below the prior)",
        ),
    )
    floor = np.maximum(grid.log_q, grid.log_p.min() - 5)  # keep empty regions on the scale
    fig.add_trace(
        go.Heatmap(
            x=grid.xs,
            y=grid.ys,
            z=floor,
            colorscale="Viridis",
            zmin=float(np.percentile(floor, 2)),
            colorbar=dict(x=0.45, thickness=10, title=dict(text="log q")),
            hovertemplate="z = (%{x:.2f}, %{y:.2f})<br>log q = %{z:.2f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    ratio = np.clip(grid.log_q - grid.log_p, -6, 6)
    fig.add_trace(
        go.Heatmap(
            x=grid.xs,
            y=grid.ys,
            z=ratio,
            colorscale="RdBu",
            reversescale=True,
            zmid=0,
            zmin=-6,
            zmax=6,
            colorbar=dict(thickness=10, title=dict(text="log q/p")),
            hovertemplate="z = (%{x:.2f}, %{y:.2f})<br>log q/p = %{z:.2f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    theta = np.linspace(0, 2 * np.pi, 129)
    for col in (1, 2):
        for r in (1.0, 2.0, 3.0):
            fig.add_trace(
                go.Scatter(
                    x=r * np.cos(theta),
                    y=r * np.sin(theta),
                    mode="lines",
                    line=dict(color="white" if col == 1 else "black", width=1, dash="dot"),
                    hoverinfo="skip",
                    showlegend=col == 1 and r == 1.0,
                    name="prior N(0, I): 1, 2, 3σ",
                ),
                row=1,
                col=col,
            )
    if hole_mask is not None and hole_mask.any():
        fig.add_trace(
            go.Contour(
                x=grid.xs,
                y=grid.ys,
                z=hole_mask.astype(float),
                contours=dict(start=0.5, end=0.5, coloring="none"),
                line=dict(color="black", width=2),
                showscale=False,
                hoverinfo="skip",
                name="holes",
                showlegend=True,
            ),
            row=1,
            col=2,
        )
    if holes:
        fig.add_trace(
            go.Scatter(
                x=[h.center[0] for h in holes],
                y=[h.center[1] for h in holes],
                mode="markers+text",
                text=[f"hole {i + 1}" for i in range(len(holes))],
                textposition="top center",
                textfont=dict(color="black"),
                marker=dict(symbol="x", size=10, color="black"),
                name="hole centres",
                hovertemplate="%{text}: z = (%{x:.2f}, %{y:.2f})<extra></extra>",
            ),
            row=1,
            col=2,
        )
    x_range = [float(grid.xs[0]), float(grid.xs[-1])]
    y_range = [float(grid.ys[0]), float(grid.ys[-1])]
    fig.update_xaxes(range=x_range, title="z₁", constrain="domain")
    fig.update_yaxes(range=y_range, constrain="domain")
    fig.update_yaxes(title="z₂", scaleanchor="x", scaleratio=1, row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", scaleratio=1, row=1, col=2)
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        font=dict(size=font_size),
        legend=dict(orientation="h", y=-0.15),
        plot_bgcolor="white",
    )
    return fig


def kl_forces_figure(
    forces: KLForces, recon: float | None = None, height: int = 360, font_size: int = 12
) -> go.Figure:
    """Per latent dimension: the pull to the origin (1/2 mu^2) and the size term, stacked to
    the dimension's mean KL; inactive units are labelled."""
    dims = [
        f"z{d + 1}" + ("" if forces.active[d] else " (inactive)") for d in range(len(forces.total))
    ]
    fig = go.Figure(
        [
            go.Bar(
                x=dims,
                y=forces.pull_to_origin,
                name="pull to origin  ½·μ²",
                marker_color="#1f77b4",
                hovertemplate="%{x}: %{y:.3f} nats<extra>pull to origin</extra>",
            ),
            go.Bar(
                x=dims,
                y=forces.unit_size,
                name="keep size 1  ½·(σ²−1−log σ²)",
                marker_color="#ff7f0e",
                hovertemplate="%{x}: %{y:.3f} nats<extra>size term</extra>",
            ),
        ]
    )
    for d, total in enumerate(forces.total):
        fig.add_annotation(x=dims[d], y=total, text=f"KL {total:.2f}", showarrow=False, yshift=10)
    title = "mean KL per latent dimension (nats)"
    if recon is not None:
        title += f" · reconstruction term (the push apart): {recon:.1f} nats"
    fig.update_layout(
        barmode="stack",
        height=height,
        title=dict(text=title, font=dict(size=font_size + 1)),
        margin=dict(l=10, r=10, t=50, b=10),
        font=dict(size=font_size),
        yaxis_title="nats",
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def embedding_figure(
    embeddings: Mapping[str, np.ndarray],
    ids: np.ndarray,
    labels: np.ndarray | None,
    label_kind: str | None,
    class_names: Sequence[str] | None = None,
    highlight: np.ndarray | None = None,
    scores: Mapping[str, float] | None = None,
    height: int = 460,
    font_size: int = 12,
) -> go.Figure:
    """One panel per embedding (n, 2) of the same points, same colours in each.

    `ids` (n,) are carried as customdata so a selection in any panel names the same points;
    `highlight` (n,) bool draws those points large and outlined in every panel and fades the rest.
    """
    names = list(embeddings)
    titles = [
        f"{name}" + (f" · k-NN {scores[name]:.3f}" if scores and name in scores else "")
        for name in names
    ]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=titles, horizontal_spacing=0.04)
    ids = np.asarray(ids)
    faded = highlight is not None and bool(np.any(highlight))
    if label_kind == "class" and labels is not None:
        colors = class_colors(labels)
        groups = [
            (
                f"{c}: {class_names[c]}"
                if class_names and 0 <= c < len(class_names) and class_names[c] != str(c)
                else str(c),
                colors[c],
                np.flatnonzero(labels.astype(int) == c),
            )
            for c in colors
        ]
    else:
        groups = [("points", None, np.arange(len(ids)))]
    for col, name in enumerate(names, start=1):
        points = np.asarray(embeddings[name], dtype=np.float32)
        for group_name, color, idx in groups:
            marker: dict = dict(size=5, opacity=0.25 if faded else 0.85)
            if color is not None:
                marker["color"] = color
            elif labels is not None:
                marker.update(
                    color=np.asarray(labels, dtype=np.float32)[idx],
                    colorscale="Viridis",
                    showscale=col == len(names),
                    colorbar=dict(thickness=10, title=dict(text="label")),
                )
            fig.add_trace(
                go.Scattergl(
                    x=points[idx, 0],
                    y=points[idx, 1],
                    mode="markers",
                    marker=marker,
                    customdata=ids[idx],
                    name=group_name,
                    legendgroup=group_name,
                    showlegend=col == 1 and color is not None,
                    hovertemplate="#%{customdata}<extra>" + group_name + "</extra>",
                ),
                row=1,
                col=col,
            )
        if faded:
            sel = np.flatnonzero(highlight)
            fig.add_trace(
                go.Scattergl(
                    x=points[sel, 0],
                    y=points[sel, 1],
                    mode="markers",
                    marker=dict(
                        size=11,
                        color=[
                            colors[int(labels[i])]
                            if label_kind == "class" and labels is not None
                            else "red"
                            for i in sel
                        ],
                        line=dict(color="black", width=1.5),
                    ),
                    customdata=ids[sel],
                    name="highlighted",
                    showlegend=col == 1,
                    hovertemplate="#%{customdata}<extra>highlighted</extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        font=dict(size=font_size),
        plot_bgcolor="white",
        legend=dict(orientation="h", y=-0.08, itemsizing="constant"),
        clickmode="event+select",
        dragmode="lasso",
        hovermode="closest",
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    return fig


def elbo_terms_figure(
    terms: Mapping[str, Mapping[str, float]], height: int = 340, font_size: int = 12
) -> go.Figure:
    """Grouped bars of the test-set terms {model label: {recon, kl, elbo}} in nats."""
    keys = [("recon", "reconstruction −log p(x|z)"), ("kl", "KL(q(z|x) ‖ p(z))"), ("elbo", "−ELBO")]
    fig = go.Figure()
    for i, (label, values) in enumerate(terms.items()):
        ys = [values["recon"], values["kl"], -values["elbo"]]
        fig.add_trace(
            go.Bar(
                x=[name for _, name in keys],
                y=ys,
                name=label,
                marker_color=("#4c72b0", "#dd8452", "#55a868", "#c44e52")[i % 4],
                text=[f"{v:.2f}" for v in ys],
                textposition="outside",
                hovertemplate="%{x}: %{y:.3f} nats<extra>" + label + "</extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        font=dict(size=font_size),
        yaxis_title="nats per example (test set)",
        legend=dict(orientation="h", y=1.12),
    )
    return fig


__all__ = [
    "add_mosaic_image",
    "cell_edges",
    "class_colors",
    "data_uri",
    "density_figure",
    "elbo_terms_figure",
    "embedding_figure",
    "kl_forces_figure",
    "latent_mosaic",
    "manifold_beside_map",
    "png_bytes",
    "surface_3d_figure",
    "to_uint8",
]

"""The 3-D picture: data in input space with the decoder's image of the latent plane as a surface."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .latent_map import compact_legend

CAMERA_EYE = dict(x=1.9, y=1.9, z=1.3)  # (1.25, 1.25, 1.25) is Plotly's default


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
    low, high = points.min(0), points.max(0)  # (3,) each
    pad = 0.1 * np.maximum(high - low, 1e-6)
    ranges = [[float(a), float(b)] for a, b in zip(low - pad, high + pad, strict=True)]
    spans = (high - low + 2 * pad).astype(np.float64)  # (3,)
    # The data's colour range, so the surface and the points share one scale.
    shared_scale = surface_color is not None and color is not None
    fig = go.Figure()
    if show_surface:
        fig.add_trace(
            go.Surface(
                x=surface[..., 0],
                y=surface[..., 1],
                z=surface[..., 2],
                surfacecolor=surface_color,
                colorscale="Greys" if surface_color is None else "Viridis",
                cmin=float(np.min(color)) if shared_scale else None,
                cmax=float(np.max(color)) if shared_scale else None,
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
        margin=dict(l=10, r=10, t=10, b=10),
        font=dict(size=font_size),
        legend=compact_legend(),  # under the plot: never under the toolbar
        # Constant: Plotly keeps the user's camera while the figure is updated (a new marker).
        uirevision="surface-3d",
        # The box spans the data (plus a margin), not the decoded surface, which reaches far
        # beyond the data where the latent grid has no points; and Plotly's default eye
        # (1.25, 1.25, 1.25) put the box's tick labels and axis titles at the edge of the
        # canvas, where they were cut off: from further away the whole box fits.
        scene=dict(
            xaxis=dict(title="x₁", range=ranges[0]),
            yaxis=dict(title="x₂", range=ranges[1]),
            zaxis=dict(title="x₃", range=ranges[2]),
            aspectmode="manual",
            aspectratio=dict(zip("xyz", (spans / spans.max()).tolist(), strict=True)),
            camera=dict(eye=CAMERA_EYE),
        ),
    )
    return fig


__all__ = ["surface_3d_figure"]

"""Aggregate posterior: log q(z) against the prior with its holes, and the three bubble forces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .latent_map import prior_circles

if TYPE_CHECKING:  # plain records of numpy arrays; viz never imports torch at run time
    from vae.density import DensityGrid, Hole, KLForces


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
            # Two short lines each: on one, they ran into each other at 1000 px.
            "aggregate posterior<br>log q(z)",
            "log q(z) / p(z)<br>(blue: q below the prior)",
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
    for col in (1, 2):
        circles = prior_circles("white" if col == 1 else "black", legend=col == 1)
        fig.add_traces(circles, rows=1, cols=col)
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
    # One latent unit as long on every axis, so the prior's circles are round in both panels:
    # the left panel's y is anchored to its x, and the right panel's axes match the left's
    # (the same ranges and scale, zoomed together). Anchoring y2 to x2 as well conflicted with
    # the shared y axis, and Plotly dropped the right panel's constraint (ellipses).
    fig.update_yaxes(title="z₂", scaleanchor="x", scaleratio=1, row=1, col=1)
    fig.update_xaxes(matches="x", row=1, col=2)
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=round(4 * font_size), b=10),
        font=dict(size=font_size),
        legend=dict(orientation="h", y=-0.15),
        plot_bgcolor="white",
    )
    return fig


def kl_forces_figure(
    forces: KLForces, recon: float | None = None, height: int = 360, font_size: int = 12
) -> go.Figure:
    """The three forces on the bubbles, as three bars: per latent dimension the KL's pull to
    the origin (½μ²) and its size term (½(σ² − log σ² − 1)), stacked to the dimension's mean
    KL; beside them the reconstruction term −𝔼_q[log p(x|z)] that pushes bubbles apart and
    shrinks them. The reconstruction term does not split by dimension, so it is one bar on its
    own axis; without it (`recon` None: not recorded) the figure has the KL's two bars only."""
    dims = [
        f"z{d + 1}" + ("" if forces.active[d] else " (inactive)") for d in range(len(forces.total))
    ]
    three = recon is not None
    fig = make_subplots(
        rows=1,
        cols=2 if three else 1,
        column_widths=[0.72, 0.28] if three else None,
        horizontal_spacing=0.14,
        subplot_titles=(
            ("KL per latent dimension (nats)", "push apart (nats)")
            if three
            else ("KL per latent dimension (nats)",)
        ),
    )
    fig.add_trace(
        go.Bar(
            x=dims,
            y=forces.pull_to_origin,
            name="pull to the origin  ½·μ²",
            marker_color="#1f77b4",
            hovertemplate="%{x}: %{y:.3f} nats<extra>pull to origin</extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=dims,
            y=forces.unit_size,
            name="hold size 1  ½·(σ² − log σ² − 1)",
            marker_color="#ff7f0e",
            hovertemplate="%{x}: %{y:.3f} nats<extra>size term</extra>",
        ),
        row=1,
        col=1,
    )
    for d, total in enumerate(forces.total):
        fig.add_annotation(
            x=dims[d], y=total, text=f"KL {total:.2f}", showarrow=False, yshift=10, row=1, col=1
        )
    if three:
        fig.add_trace(
            go.Bar(
                x=["reconstruction"],
                y=[recon],
                name="push apart  −𝔼<sub>q</sub>[log p(x|z)]",
                marker_color="#2ca02c",
                text=[f"{recon:.1f}"],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y:.2f} nats<extra>reconstruction term</extra>",
            ),
            row=1,
            col=2,
        )
    fig.update_layout(
        barmode="stack",
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        font=dict(size=font_size),
        legend=dict(orientation="h", y=-0.2),
    )
    fig.update_yaxes(title_text="nats", row=1, col=1)
    return fig


__all__ = ["density_figure", "kl_forces_figure"]

"""Inference lab figures: the exact posterior beside q, the estimators of log p(x), the gaps.

Pure figure builders: numpy in, Plotly out (no torch, no Streamlit, no model).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .latent_map import prior_circles

ENCODER_COLOUR = "#ff7f0e"
OPTIMAL_COLOUR = "#17becf"
PRIOR_COLOUR = "rgba(255,255,255,0.55)"
ESTIMATOR_COLOURS = {"naive": "#d62728", "iwae": "#1f77b4", "elbo": "#2ca02c"}
ESTIMATOR_NAMES = {
    "naive": "naive: z ~ p(z)",
    "iwae": "importance sampling: z ~ q(z|x) (IWAE-k)",
    "elbo": "ELBO: mean log weight, z ~ q(z|x)",
}


DECIMALS = 3  # nats are shown to a thousandth: the quadrature's error is about that
DISPLAY_FLOOR = 10.0**-DECIMALS


def nats(value: float, *, error: float | None = None, decimals: int = DECIMALS) -> str:
    """A number of nats as the Inference lab shows every one: `decimals` places, and its error
    bar (error_text) where one is given."""
    text = f"{value:.{decimals}f}"
    if error is None:
        return text
    bound = error_text(error, decimals)
    return f"{text} (error {bound})" if bound.startswith("<") else f"{text} ± {bound}"


def error_text(error: float, decimals: int = DECIMALS) -> str:
    """An error bound to two significant figures, or "< 0.001" below the display precision."""
    floor = 10.0**-decimals
    if not np.isfinite(error):
        return "?"
    if error < floor:
        return f"< {floor:.{decimals}f}"
    return f"{float(f'{error:.2g}'):g}"


def _ellipse(center, radii, vertices: int = 72) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, vertices)
    return center[0] + radii[0] * np.cos(t), center[1] + radii[1] * np.sin(t)


def posterior_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    log_density: np.ndarray,
    *,
    encoder: tuple[np.ndarray, np.ndarray],
    optimal: tuple[np.ndarray, np.ndarray] | None = None,
    modes: np.ndarray | None = None,
    mean: np.ndarray | None = None,
    floor: float = 12.0,
    height: int = 480,
    font_size: int = 12,
) -> go.Figure:
    """p(z|x) as a heatmap with contours, q_encoder's and q*'s 1σ/2σ ellipses, the prior's circles.

    log_density (ny, nx) on cell centres xs, ys; encoder and optimal are (mu (2,), sigma (2,)).
    Contours are drawn where log p(z|x) is 0.5, 2 and 4.5 nats below its peak: for a Gaussian
    posterior these are its 1σ, 2σ and 3σ ellipses, so they compare directly with q's.
    """
    # Log density, floored `floor` nats below the peak: a second mode or a long tail thousands
    # of times less dense than the peak stays visible, where a linear scale would hide it.
    relative = np.maximum(log_density - log_density.max(), -floor)
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            x=xs,
            y=ys,
            z=relative,
            zmin=-floor,
            zmax=0,
            colorscale="Viridis",
            colorbar=dict(thickness=10, title=dict(text="log p(z|x)<br>− peak"), len=0.8),
            customdata=log_density,
            hovertemplate="z = (%{x:.3f}, %{y:.3f})<br>log p(z|x) = %{customdata:.2f}<extra></extra>",
            name="p(z|x)",
        )
    )
    fig.add_trace(
        go.Contour(
            x=xs,
            y=ys,
            z=log_density - log_density.max(),
            contours=dict(coloring="none", type="levels", start=-4.5, end=-0.5, size=2.0),
            line=dict(color="white", width=1.5),
            showscale=False,
            hoverinfo="skip",
            name="p(z|x): 1, 2, 3σ contours",
            showlegend=True,
        )
    )
    fig.add_traces(prior_circles(PRIOR_COLOUR))
    qs = [("q_encoder", encoder, ENCODER_COLOUR, "solid")]
    if optimal is not None:
        qs.append(("q* (E-step)", optimal, OPTIMAL_COLOUR, "dash"))
    for name, (mu, sigma), colour, dash in qs:
        for k in (1, 2):
            ex, ey = _ellipse(np.asarray(mu), k * np.asarray(sigma))
            fig.add_trace(
                go.Scatter(
                    x=ex,
                    y=ey,
                    mode="lines",
                    line=dict(color=colour, width=2.5 if k == 1 else 1.2, dash=dash),
                    name=f"{name}: 1σ, 2σ",
                    legendgroup=name,
                    showlegend=k == 1,
                    hoverinfo="skip",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=[mu[0]],
                y=[mu[1]],
                mode="markers",
                marker=dict(color=colour, size=8, line=dict(color="black", width=1)),
                name=f"{name} μ",
                legendgroup=name,
                showlegend=False,
                hovertemplate=f"{name} μ = (%{{x:.3f}}, %{{y:.3f}})<extra></extra>",
            )
        )
    if modes is not None and len(modes):
        fig.add_trace(
            go.Scatter(
                x=modes[:, 0],
                y=modes[:, 1],
                mode="markers",
                marker=dict(symbol="x", color="white", size=9, line=dict(color="black", width=1)),
                name=f"modes ({len(modes)})",
                hovertemplate="mode (%{x:.3f}, %{y:.3f})<extra></extra>",
            )
        )
    if mean is not None:
        fig.add_trace(
            go.Scatter(
                x=[mean[0]],
                y=[mean[1]],
                mode="markers",
                marker=dict(symbol="diamond", color="white", size=8, line=dict(color="black")),
                name="mean of p(z|x)",
                hovertemplate="posterior mean (%{x:.3f}, %{y:.3f})<extra></extra>",
            )
        )
    half_x, half_y = (xs[1] - xs[0]) / 2, (ys[1] - ys[0]) / 2  # cell centres: edges are half out
    fig.update_xaxes(range=[xs[0] - half_x, xs[-1] + half_x], title="z₁", constrain="domain")
    # Both axes shrink their domain to keep one unit equal on both (none extends its range).
    fig.update_yaxes(
        range=[ys[0] - half_y, ys[-1] + half_y],
        title="z₂",
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
    )
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        font=dict(size=font_size),
        # A dark legend: the contours and modes are white, as they are drawn on the heatmap.
        legend=dict(
            orientation="h",
            yanchor="top",
            y=-0.2,
            x=0,
            bgcolor="#303030",
            font=dict(color="white"),
        ),  # fmt: skip
        title=dict(text="exact posterior p(z|x) against q", font=dict(size=font_size + 2)),
    )
    return fig


def convergence_figure(
    ks: np.ndarray,
    estimates: dict[str, np.ndarray],
    exact: float,
    *,
    exact_error: float = 0.0,
    height: int = 520,
    font_size: int = 12,
) -> go.Figure:
    """Estimates of log p(x) against the number of samples k (log axis), and below them each
    estimator's shortfall log p(x) − estimate on a log axis.

    estimates maps "naive", "iwae", "elbo" to (runs, len(ks)) arrays; the median over runs is
    a line, the runs' range a band. Above, values far below the exact line (the naive
    estimator at small k can be hundreds of nats short) are pinned to the bottom as ▼ with
    their value on hover, so the axis stays readable and the failure stays visible. Below, a
    shortfall of 0.01 nats is as legible as one of 100: IWAE's last hundredth of a nat, hidden
    under the exact line above, is seen there. Shortfalls under DISPLAY_FLOOR (and estimates
    above log p(x), which noise allows) sit on the floor as ▼.
    """
    ks = np.asarray(ks, dtype=float)
    # Down to the lowest median (the naive estimator's), at most 40 nats: the failure shows,
    # and the ELBO and IWAE, usually within a nat or two of log p(x), stay apart.
    lowest = min(float(np.median(np.asarray(r), 0).min()) for r in estimates.values())
    depth = float(np.clip(exact - lowest + 0.5, 6.0, 40.0))
    low, high = exact - depth, exact + max(1.0, 0.1 * depth)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.55, 0.45])  # fmt: skip
    for name in ("naive", "iwae", "elbo"):
        if name not in estimates:
            continue
        runs, colour = np.asarray(estimates[name], dtype=float), ESTIMATOR_COLOURS[name]
        median = np.median(runs, 0)
        _estimate_traces(fig, ks, runs, median, low, high, name, colour)
        _shortfall_traces(fig, ks, exact - runs, exact - median, name, colour)
    fig.add_hline(
        y=exact,
        line=dict(color="black", width=2),
        annotation_text=f"exact log p(x) = {nats(exact, error=exact_error)}",
        annotation_position="top left",
        row=1,
        col=1,
    )
    fig.update_xaxes(type="log", exponentformat="power")
    fig.update_xaxes(title="samples k", row=2, col=1)
    fig.update_yaxes(range=[low, high], title="estimate of log p(x)", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", title="log p(x) − estimate", row=2, col=1)
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        font=dict(size=font_size),
        legend=dict(orientation="h", yanchor="top", y=-0.12, x=0),
        title=dict(text="estimators of log p(x) against k", font=dict(size=font_size + 2)),
    )
    return fig


def _band(fig, ks, upper, lower, name, colour, row: int) -> None:
    """The spread of the runs at each k: a translucent band between `lower` and `upper`."""
    fig.add_trace(
        go.Scatter(
            x=np.concatenate([ks, ks[::-1]]),
            y=np.concatenate([upper, lower[::-1]]),
            fill="toself",
            fillcolor=colour,
            opacity=0.18,
            line=dict(width=0),
            hoverinfo="skip",
            showlegend=False,
            legendgroup=name,
        ),
        row=row,
        col=1,
    )


def _estimate_traces(fig, ks, runs, median, low, high, name, colour) -> None:
    band = np.clip(runs, low, high)
    _band(fig, ks, band.max(0), band.min(0), name, colour, row=1)
    fig.add_trace(
        go.Scatter(
            x=ks,
            y=np.maximum(median, low),
            mode="lines+markers",
            line=dict(color=colour, width=2),
            marker=dict(symbol=np.where(median < low, "triangle-down", "circle"), size=8),
            customdata=median,
            name=ESTIMATOR_NAMES[name],
            legendgroup=name,
            hovertemplate="k = %{x:,.0f}<br>median %{customdata:.3f} nats<extra>"
            + name
            + "</extra>",
        ),
        row=1,
        col=1,
    )
    points = runs.ravel()
    fig.add_trace(
        go.Scatter(
            x=np.tile(ks, len(runs)),
            y=np.maximum(points, low),
            mode="markers",
            marker=dict(color=colour, size=4, opacity=0.6),
            customdata=points,
            legendgroup=name,
            showlegend=False,
            hovertemplate="k = %{x:,.0f}<br>run: %{customdata:.3f} nats<extra></extra>",
        ),
        row=1,
        col=1,
    )


def _shortfall_traces(fig, ks, shortfalls, median, name, colour) -> None:
    """log p(x) − estimate per run (band) and its median (line), floored at DISPLAY_FLOOR."""
    floored = np.maximum(shortfalls, DISPLAY_FLOOR)
    _band(fig, ks, floored.max(0), floored.min(0), name, colour, row=2)
    fig.add_trace(
        go.Scatter(
            x=ks,
            y=np.maximum(median, DISPLAY_FLOOR),
            mode="lines+markers",
            line=dict(color=colour, width=2),
            marker=dict(symbol=np.where(median < DISPLAY_FLOOR, "triangle-down", "circle"), size=8),
            customdata=[nats(v) for v in median],
            legendgroup=name,
            showlegend=False,
            hovertemplate="k = %{x:,.0f}<br>median shortfall %{customdata} nats<extra>"
            + name
            + "</extra>",
        ),
        row=2,
        col=1,
    )


def gap_histograms(
    approximation: np.ndarray,
    amortisation: np.ndarray,
    total: np.ndarray,
    *,
    bins: int = 40,
    height: int = 320,
    font_size: int = 12,
) -> go.Figure:
    """Histograms over test points of the two gaps and their sum, log p(x) − ELBO(q_encoder)."""
    panels: Sequence[tuple[str, np.ndarray, str]] = (
        ("approximation gap<br>log p(x) − ELBO(q*)", approximation, OPTIMAL_COLOUR),
        ("amortisation gap<br>ELBO(q*) − ELBO(q_enc)", amortisation, ENCODER_COLOUR),
        ("log p(x) − ELBO(q_enc)<br>= KL(q ‖ p(z|x))", total, "#7f7f7f"),
    )
    fig = make_subplots(rows=1, cols=3, subplot_titles=[p[0] for p in panels])
    for col, (name, values, colour) in enumerate(panels, start=1):
        values = np.asarray(values, dtype=float)
        fig.add_trace(
            go.Histogram(
                x=values,
                nbinsx=bins,
                marker_color=colour,
                name=name.replace("<br>", " "),
                showlegend=False,
                hovertemplate="%{x} nats: %{y} points<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.add_vline(
            x=float(np.mean(values)),
            line=dict(color="black", dash="dash"),
            annotation_text=f"mean {nats(float(np.mean(values)))}",
            row=1,
            col=col,
        )
        fig.update_xaxes(title="nats", row=1, col=col)
    fig.update_yaxes(title="test points", row=1, col=1)
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=60, b=10),
        font=dict(size=font_size),
        bargap=0.05,
    )
    return fig


__all__ = [
    "DISPLAY_FLOOR",
    "convergence_figure",
    "error_text",
    "gap_histograms",
    "nats",
    "posterior_figure",
]

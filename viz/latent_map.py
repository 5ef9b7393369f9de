"""Pure Plotly builders for the latent map: the points, the prior, and the bubbles' data.

numpy in, plotly.graph_objects.Figure out; nothing here knows of models or of Streamlit.
Every point trace carries `customdata` = the test-set index of each point, because Plotly
reports hovers per trace (point_index is local to a trace) and the page must know *which
example* is meant.

The variance bubbles are not in the figure: a browser layer (ui/components/map_layer.js) draws
them on a canvas under the points, for the window on screen, on every zoom and pan. Here
`bubble_data` only describes them: centres, radii, and a colour index into one palette that
matches the points' colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from .text import plotly_text

Bubbles = Literal["off", "1σ", "2σ"]
ColorKind = Literal["class", "continuous"] | None

# Ten colours that stay apart from one another on white (Plotly's "D3" / Tableau 10): every
# class colour in the app comes from here.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
NEUTRAL = "#444444"  # points (and bubbles) when nothing colours them
# A continuous colouring's bubbles take the Viridis colour of their bin: one canvas path per
# colour keeps the browser's redraw to a few fills and strokes.
CONTINUOUS_BINS = 8
NO_VALUE_COLOR = "#c8c8c8"  # points (and bubbles) of a continuous colouring that have no value
NO_VALUE_NAME = "no value"
PRIOR_NAME = "prior N(0, I): 1, 2, 3σ"
WEBGL_ABOVE = 5_000  # points drawn as SVG markers up to here, WebGL (Scattergl) beyond
MAP_UIREVISION = "latent-map"  # constant: Plotly keeps zoom/pan while this stays the same
TRANSPARENT = "rgba(0,0,0,0)"  # plot and paper: the bubble canvas underneath shows through


def sigma_scale(bubbles: Bubbles) -> float:
    """k of the k-sigma bubbles: 0 (off), 1 or 2."""
    return {"off": 0.0, "1σ": 1.0, "2σ": 2.0}[bubbles]


def ellipse_xy(
    center: np.ndarray, radii: np.ndarray, vertices: int = 48
) -> tuple[np.ndarray, np.ndarray]:
    """Closed outline (x, y) of an axis-aligned ellipse: a diagonal Gaussian's k-sigma contour.

    `vertices` points, the last equal to the first.
    """
    t = np.linspace(0.0, 2 * np.pi, vertices)
    return center[0] + radii[0] * np.cos(t), center[1] + radii[1] * np.sin(t)


def data_bounds(
    mu: np.ndarray, sigma: np.ndarray | None = None, pad: float = 0.08
) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x0, x1), (y0, y1)) around the means (and their 2-sigma bubbles), padded, never empty.

    The prior's 2-sigma circle is always included so that an empty region around a collapsed
    posterior can still be clicked.
    """
    mu = np.asarray(mu, dtype=np.float64).reshape(-1, 2)
    reach = 2 * np.asarray(sigma, dtype=np.float64).reshape(-1, 2) if sigma is not None else 0.0
    finite = np.isfinite(mu).all(1) & np.isfinite(mu - reach).all(1)
    lo = np.minimum((mu - reach)[finite].min(0) if finite.any() else -2.0, -2.0)
    hi = np.maximum((mu + reach)[finite].max(0) if finite.any() else 2.0, 2.0)
    span = hi - lo
    lo, hi = lo - pad * span, hi + pad * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _groups(color: np.ndarray | None, color_kind: ColorKind, n: int):
    """[(name, colour, index array)]: one group per class, or a single group."""
    if color_kind == "class" and color is not None:
        ids = np.asarray(color).astype(int)
        classes = np.unique(ids)
        return [
            (str(c), PALETTE[i % len(PALETTE)], np.flatnonzero(ids == c))
            for i, c in enumerate(classes)
        ]
    return [("points", NEUTRAL, np.arange(n))]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a cache key
class BubbleData:
    """What the browser needs to draw the bubbles: k-sigma ellipses in latent units.

    mu, sigma: (N, 2) float32; color: (N,) indices into `palette`; k: the sigma multiple.
    The point traces of `latent_map_figure` carry meta={"vx_color": i} for class i, so the
    browser hides the bubbles of a class whose points the legend hides.
    """

    mu: np.ndarray
    sigma: np.ndarray
    color: np.ndarray
    palette: tuple[str, ...]
    k: float


def bubble_data(
    mu: np.ndarray,
    sigma: np.ndarray,
    color: np.ndarray | None = None,
    *,
    color_kind: ColorKind = "class",
    bubbles: Bubbles = "1σ",
) -> BubbleData | None:
    """The bubbles of the map `latent_map_figure` draws with the same colouring; None if off."""
    k = sigma_scale(bubbles)
    if k == 0:
        return None
    mu = np.asarray(mu, dtype=np.float32).reshape(-1, 2)
    sigma = np.asarray(sigma, dtype=np.float32).reshape(-1, 2)
    n = len(mu)
    index = np.zeros(n, dtype=np.uint8)
    if color_kind == "continuous" and color is not None:
        values = np.asarray(color, dtype=np.float64)
        finite = np.isfinite(values)
        lo, hi = (values[finite].min(), values[finite].max()) if finite.any() else (0.0, 1.0)
        scaled = np.clip((np.where(finite, values, lo) - lo) / ((hi - lo) or 1.0), 0, 1)
        index = np.minimum((scaled * CONTINUOUS_BINS).astype(int), CONTINUOUS_BINS - 1)
        index[~finite] = CONTINUOUS_BINS  # no value: the grey of their points
        centres = (np.arange(CONTINUOUS_BINS) + 0.5) / CONTINUOUS_BINS
        palette = tuple(sample_colorscale("Viridis", list(centres), colortype="rgb"))
        return BubbleData(mu, sigma, index.astype(np.uint8), (*palette, NO_VALUE_COLOR), k)
    groups = _groups(color, color_kind, n)
    for i, (_, _, idx) in enumerate(groups):
        index[idx] = i
    return BubbleData(mu, sigma, index, tuple(c for _, c, _ in groups), k)


def prior_circles(color: str, legend: bool = True) -> list[go.Scatter]:
    """The prior N(0, I)'s 1, 2 and 3σ circles (dotted); the first one named in the legend."""
    circles = []
    for r in (1.0, 2.0, 3.0):
        xs, ys = ellipse_xy(np.zeros(2), np.array([r, r]), 129)
        circles.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line=dict(color=color, width=1, dash="dot"),
                hoverinfo="skip",
                showlegend=legend and r == 1.0,
                name=PRIOR_NAME,
            )
        )
    return circles


UNDER_BUBBLES = 0.45  # a point's marker under its bubble, relative to its size alone


def marker_size(n: int, under_bubbles: bool = False) -> float:
    """Point size in px: smaller the more points there are; under bubbles a dot at each
    bubble's centre, so that the (filled) bubble shows around it even where a 1σ radius is a
    few pixels (Fashion's 10k points at full view: a median of 2.5 to 3.5 px)."""
    size = 6 if n <= 2_000 else 3.5 if n <= 20_000 else 2.5
    return round(size * UNDER_BUBBLES, 2) if under_bubbles else size


def framed_window(mu: np.ndarray, pad: float = 0.03) -> list[float]:
    """[x0, x1, y0, y1] just around the means (`pad` of their span on each side): the data,
    framed, not data_bounds' box that also holds the 2σ bubbles and the prior's 2σ circle."""
    mu = np.asarray(mu, dtype=np.float64).reshape(-1, 2)
    finite = mu[np.isfinite(mu).all(1)]
    if not len(finite):
        return [-2.0, 2.0, -2.0, 2.0]
    lo, hi = finite.min(0), finite.max(0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - pad * span, hi + pad * span
    return [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]


# Every colouring of one map gets the same frame, so that switching colourings never re-frames
# a zoomed view (with one latent unit as long on both axes, a plot area of another size shows
# other ranges): room at the right for a colour bar, kept when there is none, and room below
# for the legend's rows, counted from the labels the label colouring would show.
COLORBAR_ROOM = 110  # px: the colour bar, ticks such as "0.125" and its title (sideways)
AXIS_ROOM = 48  # px under the plot: the z₁ ticks and title
# px left of the plot: the z₂ ticks ("−7.5") and title. Room that Plotly had to push open
# itself changed the plot area between its first layout pass and the next, and with equal
# units the ranges widened on each pass: a redrawn window came back wider every time.
Y_AXIS_ROOM = 56
LEGEND_ROW = 21  # px per legend row at the legend's 11 px font
NARROWEST_PLOT = 440  # px: the map's plot width in a 1000 px window; wider plots need fewer rows


def legend_rows(labels: Sequence[str], width: float = NARROWEST_PLOT) -> int:
    """How many rows a horizontal legend of these entries takes in `width` px (Plotly's 11 px
    font: ~6.5 px a character, 40 px for the symbol and the gaps), a little generously."""
    rows, used = 1, 0.0
    for label in labels:
        item = 40 + 6.5 * len(label)
        if used and used + item > width:
            rows, used = rows + 1, 0.0
        used += item
    return rows


def class_label(name: str, class_names: Sequence[str] | None) -> str:
    """A class id's legend entry: with its name ("3: Dress") where the dataset has names."""
    if (
        class_names is not None
        and name.lstrip("-").isdigit()
        and 0 <= int(name) < len(class_names)
        and class_names[int(name)] != name
    ):
        return f"{name}: {plotly_text(class_names[int(name)])}"
    return name


def compact_legend(font_size: int = 11) -> dict:
    """A legend in rows at the bottom of the figure: it never covers data or the toolbar (top
    right), and its place does not depend on the plot's height."""
    return dict(
        orientation="h",
        yref="container",
        yanchor="bottom",
        y=0.0,
        x=0.0,
        xanchor="left",
        itemsizing="constant",
        font=dict(size=font_size),
        tracegroupgap=0,
        bgcolor=TRANSPARENT,
    )


def latent_map_figure(
    mu: np.ndarray,
    sigma: np.ndarray,
    color: np.ndarray | None = None,
    *,
    color_kind: ColorKind = "class",
    class_names: Sequence[str] | None = None,
    color_label: str = "label",
    prior_contours: bool = False,
    webgl_above: int = WEBGL_ABOVE,
    point_size: float | None = None,
    under_bubbles: bool = False,
    height: int = 620,
    title: str | None = None,
    window: Sequence[float] | None = None,
) -> go.Figure:
    """The latent map: means mu (N, 2) coloured by `color`; the bubbles are drawn beside it.

    color: (N,) class ids (color_kind="class") or any per-point quantity ("continuous"),
        or None for a single colour.
    window: [x0, x1, y0, y1] to show (else the data's bounds); a new window also gets a new
        uirevision, so Plotly applies it over the user's zoom.
    under_bubbles: the bubbles are shown, so the points are dots at their centres.
    The plot area fills the width and height it is given with one latent unit as long on both
    axes (the ranges widen to fit), on a transparent background so that the bubble canvas
    under it shows.
    """
    mu = np.asarray(mu, dtype=np.float32).reshape(-1, 2)
    sigma = np.asarray(sigma, dtype=np.float32).reshape(-1, 2)
    if len(mu) != len(sigma):
        raise ValueError(f"mu and sigma have {len(mu)} and {len(sigma)} rows")
    if color is not None and len(color) != len(mu):
        raise ValueError(f"color has {len(color)} values for {len(mu)} points")
    n = len(mu)
    x_range, y_range = data_bounds(mu, sigma)
    uirevision = MAP_UIREVISION
    if window is not None:
        x_range, y_range = (
            (float(window[0]), float(window[1])),
            (float(window[2]), float(window[3])),
        )
        uirevision = (
            f"{MAP_UIREVISION}:{x_range[0]:.6g},{x_range[1]:.6g},{y_range[0]:.6g},{y_range[1]:.6g}"
        )
    fig = go.Figure()
    if prior_contours:
        fig.add_traces(prior_circles("rgba(60,60,60,0.55)"))

    # WebGL only where SVG would crawl: a WebGL canvas costs a read-back on every repaint of
    # the page in software-rendered browsers, which made every click ~4x slower (measured).
    points_trace = go.Scattergl if n > webgl_above else go.Scatter
    size = point_size or marker_size(n, under_bubbles)
    index_hover = "z = (%{x:.2f}, %{y:.2f})<br>#%{customdata}<extra>%{fullData.name}</extra>"

    def points(idx: np.ndarray, color, name: str, **extra) -> go.Scatter | go.Scattergl:
        """The points `idx` (test-set indices, carried as customdata for the click) in one trace."""
        return points_trace(x=mu[idx, 0], y=mu[idx, 1], mode="markers", customdata=idx,
                            marker=dict(size=size, color=color), name=name,
                            hovertemplate=index_hover, **extra)  # fmt: skip

    if color_kind == "continuous" and color is not None:
        values = np.asarray(color, dtype=np.float32)
        has_value = np.isfinite(values)
        if not has_value.all():  # e.g. a quantity computed for a sample of the points only
            fig.add_trace(points(np.flatnonzero(~has_value), NO_VALUE_COLOR, NO_VALUE_NAME))
        shown = np.flatnonzero(has_value)
        fig.add_trace(
            points_trace(
                x=mu[shown, 0],
                y=mu[shown, 1],
                mode="markers",
                marker=dict(
                    size=size,
                    color=values[shown],
                    colorscale="Viridis",
                    colorbar=dict(
                        title=dict(text=color_label, side="right"),
                        thickness=12,
                        len=0.8,
                        xref="container",  # in the room kept for it: the plot never narrows
                        x=1.0,
                        xanchor="right",
                        xpad=6,
                    ),
                ),
                customdata=shown,
                name=color_label,
                hovertemplate=index_hover.replace(
                    "<extra>", f"<br>{color_label} %{{marker.color:.3g}}<extra>"
                ),
                showlegend=False,
            )
        )
    else:
        for i, (name, hex_color, idx) in enumerate(_groups(color, color_kind, n)):
            label = class_label(name, class_names)
            fig.add_trace(points(idx, hex_color, label, legendgroup=name, meta={"vx_color": i}))

    if class_names is not None:  # the same for every colouring of this data
        legend = [class_label(str(i), class_names) for i in range(len(class_names))]
    else:
        legend = [trace.name for trace in fig.data if trace.showlegend is not False]
    rows = legend_rows([*legend, PRIOR_NAME, NO_VALUE_NAME])
    fig.update_layout(
        height=height,
        margin=dict(
            l=Y_AXIS_ROOM, r=COLORBAR_ROOM, t=40 if title else 24, b=AXIS_ROOM + rows * LEGEND_ROW
        ),
        title=title,
        uirevision=uirevision,
        hovermode="closest",
        dragmode="zoom",
        plot_bgcolor=TRANSPARENT,
        paper_bgcolor=TRANSPARENT,
        legend=compact_legend(),
        xaxis=dict(
            title=dict(text="z₁", standoff=4),
            range=list(x_range),
            zeroline=False,
            showgrid=True,
            gridcolor="rgba(0,0,0,0.06)",
        ),
        yaxis=dict(
            title=dict(text="z₂", standoff=4),
            range=list(y_range),
            zeroline=False,
            showgrid=True,
            gridcolor="rgba(0,0,0,0.06)",
            scaleanchor="x",  # one latent unit is as long on both axes: circles look round
            scaleratio=1,
            # constrain="range" (Plotly's default): the ranges widen to fill the plot area,
            # rather than the plot area shrinking into empty margins.
        ),
    )
    return fig

"""Pure Plotly builders for the latent map: points, variance bubbles, prior, click grid.

numpy in, plotly.graph_objects.Figure out; nothing here knows of models or of Streamlit.
Every trace that can be clicked carries `customdata` = the test-set index of the point, or -1
for the invisible click grid, because Plotly reports selections per trace (point_index is
local to a trace) and the page must know *which example* was clicked.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Literal

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

Bubbles = Literal["off", "1σ", "2σ"]
ColorKind = Literal["class", "continuous"] | None

# Ten colours that stay apart from one another on white (Plotly's "D3" / Tableau 10).
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
# Beyond this many points the bubbles are drawn as one raster image pinned to data
# coordinates. Measured (bench/bubbles_render.py, RESULTS.md): at 10k points the SVG path
# took 2.31x the load-to-drawn of the map without bubbles, the raster 1.10x (60k: 1.01x).
SVG_BUBBLE_LIMIT = 2_000
ELLIPSE_VERTICES = 16  # enough to look round at the sizes bubbles have on screen
WEBGL_ABOVE = 5_000  # points drawn as SVG markers up to here, WebGL (Scattergl) beyond
CLICK_GRID_SIZE = 120  # 120 x 120 invisible points: any click on empty space lands on one
GRID_ID = -1  # customdata of the click grid: "not a data point"
MAP_UIREVISION = "latent-map"  # constant: Plotly keeps zoom/pan while this stays the same


def _sigma_scale(bubbles: Bubbles) -> float:
    return {"off": 0.0, "1σ": 1.0, "2σ": 2.0}[bubbles]


def data_bounds(
    mu: np.ndarray, sigma: np.ndarray | None = None, pad: float = 0.08
) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x0, x1), (y0, y1)) around the means (and their 2-sigma bubbles), padded, never empty.

    The prior's 2-sigma circle is always included so that an empty region around a collapsed
    posterior can still be clicked.
    """
    mu = np.asarray(mu, dtype=np.float64).reshape(-1, 2)
    reach = 2 * np.asarray(sigma, dtype=np.float64).reshape(-1, 2) if sigma is not None else 0.0
    finite = np.isfinite(mu).all(1)
    lo = np.minimum((mu - reach)[finite].min(0) if finite.any() else -2.0, -2.0)
    hi = np.maximum((mu + reach)[finite].max(0) if finite.any() else 2.0, 2.0)
    span = hi - lo
    lo, hi = lo - pad * span, hi + pad * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def ellipse_path(mu: np.ndarray, radii: np.ndarray, vertices: int = ELLIPSE_VERTICES):
    """Axis-aligned ellipses as one NaN-separated polyline: xs, ys each (N * (vertices + 2),).

    Each ellipse is `vertices` points plus a repeat of its first (closing it) plus a NaN gap,
    so that one Scatter trace with fill="toself" draws N separate filled polygons.
    """
    theta = np.linspace(0.0, 2 * np.pi, vertices + 1)  # (V+1,), last == first closes the loop
    xs = mu[:, :1] + radii[:, :1] * np.cos(theta)  # (N, V+1)
    ys = mu[:, 1:2] + radii[:, 1:2] * np.sin(theta)
    gap = np.full((len(mu), 1), np.nan)
    return (
        np.hstack([xs, gap]).ravel().astype(np.float32),
        np.hstack([ys, gap]).ravel().astype(np.float32),
    )


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _groups(color: np.ndarray | None, color_kind: ColorKind, n: int):
    """[(name, colour, index array)]: one group per class, or a single group."""
    if color_kind == "class" and color is not None:
        classes = np.unique(np.asarray(color).astype(int))
        return [
            (str(c), PALETTE[i % len(PALETTE)], np.flatnonzero(np.asarray(color).astype(int) == c))
            for i, c in enumerate(classes)
        ]
    return [("points", "#444444", np.arange(n))]


def bubble_raster(
    mu: np.ndarray,
    radii: np.ndarray,
    colors: Sequence[tuple[str, np.ndarray]],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    pixels: int = 1024,
    alpha: float = 0.10,
) -> str:
    """All ellipses rasterised into one RGBA PNG covering x_range x y_range, as a data URI.

    PIL's "RGBA" draw mode alpha-blends every ellipse, so dense regions darken as they do in
    the SVG version. Row 0 of the image is the top (y1) of the latent plane.
    """
    img = Image.new("RGBA", (pixels, pixels), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img, "RGBA")
    (x0, x1), (y0, y1) = x_range, y_range
    sx, sy = pixels / (x1 - x0), pixels / (y1 - y0)
    a = int(round(255 * alpha))
    for hex_color, idx in colors:
        rgb = tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
        # (n, 4) boxes in pixel coordinates: left, top, right, bottom.
        boxes = np.stack(
            [
                (mu[idx, 0] - radii[idx, 0] - x0) * sx,
                (y1 - mu[idx, 1] - radii[idx, 1]) * sy,
                (mu[idx, 0] + radii[idx, 0] - x0) * sx,
                (y1 - mu[idx, 1] + radii[idx, 1]) * sy,
            ],
            1,
        )
        for left, top, right, bottom in boxes.tolist():
            draw.ellipse((left, top, max(right, left + 1), max(bottom, top + 1)), fill=(*rgb, a))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=False, compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


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


def prior_circles(color: str, legend: bool = True) -> list[go.Scatter]:
    """The prior N(0, I)'s 1, 2 and 3σ circles (dotted); the first one named in the legend."""
    theta = np.linspace(0, 2 * np.pi, 129)
    return [
        go.Scatter(
            x=r * np.cos(theta),
            y=r * np.sin(theta),
            mode="lines",
            line=dict(color=color, width=1, dash="dot"),
            hoverinfo="skip",
            showlegend=legend and r == 1.0,
            name="prior N(0, I): 1, 2, 3σ",
        )
        for r in (1.0, 2.0, 3.0)
    ]


def latent_map_figure(
    mu: np.ndarray,
    sigma: np.ndarray,
    color: np.ndarray | None = None,
    *,
    color_kind: ColorKind = "class",
    class_names: Sequence[str] | None = None,
    color_label: str = "label",
    bubbles: Bubbles = "1σ",
    prior_contours: bool = False,
    click_grid: bool = False,
    grid_size: int = CLICK_GRID_SIZE,
    svg_bubble_limit: int = SVG_BUBBLE_LIMIT,
    webgl_above: int = WEBGL_ABOVE,
    marker_size: float | None = None,
    height: int = 620,
    title: str | None = None,
) -> go.Figure:
    """The latent map: means mu (N, 2) coloured by `color`, with posterior bubbles.

    color: (N,) class ids (color_kind="class") or any per-point quantity ("continuous"),
        or None for a single colour.
    bubbles: each point's posterior ellipse with radii (k sigma_1, k sigma_2) in latent units,
        so bubbles zoom with the data (Scattergl marker sizes are pixels, which would not).
    click_grid: an invisible 120 x 120 Scattergl grid under the data, so that a click on empty
        space still selects a point whose (x, y) is the clicked z (customdata = GRID_ID).
    """
    mu = np.asarray(mu, dtype=np.float32).reshape(-1, 2)
    sigma = np.asarray(sigma, dtype=np.float32).reshape(-1, 2)
    if len(mu) != len(sigma):
        raise ValueError(f"mu and sigma have {len(mu)} and {len(sigma)} rows")
    if color is not None and len(color) != len(mu):
        raise ValueError(f"color has {len(color)} values for {len(mu)} points")
    n = len(mu)
    x_range, y_range = data_bounds(mu, sigma)
    groups = _groups(color, color_kind, n)
    fig = go.Figure()

    if click_grid:
        gx, gy = np.meshgrid(np.linspace(*x_range, grid_size), np.linspace(*y_range, grid_size))
        fig.add_trace(
            go.Scattergl(
                x=gx.ravel().astype(np.float32),
                y=gy.ravel().astype(np.float32),
                mode="markers",
                marker=dict(size=6, color="rgba(0,0,0,0)"),
                customdata=np.full(gx.size, GRID_ID),
                hoverinfo="none",
                showlegend=False,
                name="click grid",
                # The clicked grid point is the "you clicked here" marker: no figure change.
                selected=dict(marker=dict(color="rgba(0,0,0,0.9)", size=11)),
                unselected=dict(marker=dict(opacity=0)),
            )
        )

    scale = _sigma_scale(bubbles)
    if scale > 0 and n:
        radii = scale * sigma
        if n <= svg_bubble_limit:
            for name, hex_color, idx in groups:
                xs, ys = ellipse_path(mu[idx], radii[idx])
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=ys,
                        mode="lines",
                        fill="toself",
                        fillcolor=_rgba(hex_color, 0.10),
                        line=dict(width=0.5, color=_rgba(hex_color, 0.35)),
                        hoverinfo="skip",
                        showlegend=False,
                        legendgroup=name,
                        name=f"{bubbles} bubbles",
                    )
                )
        else:
            raster = bubble_raster(mu, radii, [(c, i) for _, c, i in groups], x_range, y_range)
            pin_image(fig, raster, x_range, y_range)

    if prior_contours:
        fig.add_traces(prior_circles("rgba(60,60,60,0.55)"))

    # WebGL only where SVG would crawl: a WebGL canvas costs a read-back on every repaint of
    # the page in software-rendered browsers, which made every click ~4x slower (measured).
    points_trace = go.Scattergl if n > webgl_above else go.Scatter
    size = marker_size or (6 if n <= 2_000 else 4 if n <= 20_000 else 2.5)
    index_hover = "z = (%{x:.2f}, %{y:.2f})<br>#%{customdata}<extra>%{fullData.name}</extra>"
    if color_kind == "continuous" and color is not None:
        fig.add_trace(
            points_trace(
                x=mu[:, 0],
                y=mu[:, 1],
                mode="markers",
                marker=dict(
                    size=size,
                    color=np.asarray(color, dtype=np.float32),
                    colorscale="Viridis",
                    colorbar=dict(title=dict(text=color_label), thickness=12),
                ),
                customdata=np.arange(n),
                name=color_label,
                hovertemplate=index_hover.replace(
                    "<extra>", f"<br>{color_label} %{{marker.color:.3g}}<extra>"
                ),
                selected=dict(marker=dict(size=size + 8, color="black")),
                unselected=dict(marker=dict(opacity=1.0)),
                showlegend=False,
            )
        )
    else:
        for name, hex_color, idx in groups:
            label = name
            if (
                class_names is not None
                and name.lstrip("-").isdigit()
                and 0 <= int(name) < len(class_names)
                and class_names[int(name)] != name
            ):
                label = f"{name}: {class_names[int(name)]}"
            fig.add_trace(
                points_trace(
                    x=mu[idx, 0],
                    y=mu[idx, 1],
                    mode="markers",
                    marker=dict(size=size, color=hex_color),
                    customdata=idx,
                    name=label,
                    legendgroup=name,
                    hovertemplate=index_hover,
                    # Selection must not dim every other point: keep the map as it was.
                    selected=dict(marker=dict(size=size + 8, color="black")),
                    unselected=dict(marker=dict(opacity=1.0)),
                )
            )

    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        title=title,
        uirevision=MAP_UIREVISION,
        hovermode="closest",
        clickmode="event",
        dragmode="zoom",
        plot_bgcolor="white",
        legend=dict(itemsizing="constant"),
        # constrain="domain": equal scales shrink the plot area rather than widen a range, so
        # what is visible is exactly what the click grid covers.
        xaxis=dict(
            title="z₁",
            range=list(x_range),
            constrain="domain",
            zeroline=False,
            showgrid=True,
            gridcolor="#eee",
        ),
        yaxis=dict(
            title="z₂",
            range=list(y_range),
            zeroline=False,
            showgrid=True,
            gridcolor="#eee",
            scaleanchor="x",  # one latent unit is as long on both axes: circles look round
            scaleratio=1,
            constrain="domain",
        ),
    )
    return fig

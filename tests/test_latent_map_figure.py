"""The latent-map builders: the points' ids, the bubbles' data (closed-form), determinism."""

from __future__ import annotations

import numpy as np
import plotly.io as pio
import pytest

from viz.latent_map import (
    AXIS_ROOM,
    CONTINUOUS_BINS,
    LEGEND_ROW,
    NO_VALUE_COLOR,
    NO_VALUE_NAME,
    PALETTE,
    PRIOR_NAME,
    bubble_data,
    data_bounds,
    ellipse_xy,
    latent_map_figure,
    legend_rows,
)


@pytest.fixture
def cloud() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(300, 2)).astype(np.float32)
    sigma = rng.uniform(0.05, 0.4, size=(300, 2)).astype(np.float32)
    labels = rng.integers(0, 10, size=300)
    return mu, sigma, labels


def test_ellipse_xy_points_lie_on_the_ellipse_and_close_it() -> None:
    center, radii = np.array([3.0, -1.0]), np.array([0.2, 2.0])
    xs, ys = ellipse_xy(center, radii, vertices=13)
    r = ((xs - center[0]) / radii[0]) ** 2 + ((ys - center[1]) / radii[1]) ** 2
    np.testing.assert_allclose(r, 1.0, atol=1e-12)
    assert xs[0] == pytest.approx(xs[-1]) and ys[0] == pytest.approx(ys[-1])


def test_every_point_is_clickable_once_with_its_index(cloud) -> None:
    mu, sigma, labels = cloud
    fig = latent_map_figure(mu, sigma, labels)
    points = [t for t in fig.data if t.customdata is not None]
    assert len(points) == 10  # one trace per class, for the legend
    assert {t.type for t in points} == {"scatter"}  # few points: SVG, no WebGL canvas
    ids = np.concatenate([np.asarray(t.customdata) for t in points])
    assert sorted(ids.tolist()) == list(range(300))
    for trace in points:  # customdata really is the index of the point drawn there
        idx = np.asarray(trace.customdata)
        np.testing.assert_allclose(np.asarray(trace.x), mu[idx, 0])
        np.testing.assert_allclose(np.asarray(trace.y), mu[idx, 1])


def test_the_figure_holds_no_bubbles_and_lets_the_bubble_canvas_show(cloud) -> None:
    """The bubbles are drawn by the browser under the points: no raster, no SVG ellipses."""
    mu, sigma, labels = cloud
    fig = latent_map_figure(mu, sigma, labels, prior_contours=True)
    assert not fig.layout.images
    assert not [t for t in fig.data if getattr(t, "fill", None) == "toself"]
    assert fig.layout.plot_bgcolor == fig.layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    # the ranges widen to fill the plot area (no empty margins beside a shrunk square)
    assert fig.layout.xaxis.constrain in (None, "range")
    assert fig.layout.yaxis.constrain in (None, "range")


def test_bubble_data_colours_match_the_points_colours(cloud) -> None:
    mu, sigma, labels = cloud
    fig = latent_map_figure(mu, sigma, labels)
    data = bubble_data(mu, sigma, labels, bubbles="2σ")
    assert data.k == 2.0
    np.testing.assert_array_equal(data.mu, mu)
    np.testing.assert_array_equal(data.sigma, sigma)
    for trace in fig.data:
        i = trace.meta["vx_color"]
        assert data.palette[i] == trace.marker.color  # the legend's class i is colour i
        assert set(data.color[np.asarray(trace.customdata)].tolist()) == {i}
    assert bubble_data(mu, sigma, labels, bubbles="off") is None
    assert bubble_data(mu, sigma, labels, bubbles="1σ").k == 1.0


def test_continuous_bubbles_take_the_colour_of_their_bin(cloud) -> None:
    mu, sigma, _ = cloud
    values = np.linspace(0.0, 1.0, len(mu))
    data = bubble_data(mu, sigma, values, color_kind="continuous")
    assert len(data.palette) == CONTINUOUS_BINS + 1  # the bins, then the grey of "no value"
    assert data.palette[-1] == NO_VALUE_COLOR
    assert data.color[0] == 0 and data.color[-1] == CONTINUOUS_BINS - 1
    assert (np.diff(data.color.astype(int)) >= 0).all()  # monotone in the value
    # NaN values (a failed reconstruction, a point not scored) take the grey, the rest the bins
    values[3] = np.nan
    with_gap = bubble_data(mu, sigma, values, color_kind="continuous").color
    assert with_gap[3] == CONTINUOUS_BINS and np.delete(with_gap, 3).max() < CONTINUOUS_BINS
    single = bubble_data(mu, sigma, None, color_kind=None)
    assert set(single.color.tolist()) == {0} and len(single.palette) == 1


def test_a_window_is_shown_and_applied_over_the_users_zoom(cloud) -> None:
    mu, sigma, labels = cloud
    fig = latent_map_figure(mu, sigma, labels, window=[-1.0, 1.0, -0.5, 0.5])
    assert list(fig.layout.xaxis.range) == [-1.0, 1.0]
    assert list(fig.layout.yaxis.range) == [-0.5, 0.5]
    other = latent_map_figure(mu, sigma, labels, window=[-2.0, 1.0, -0.5, 0.5])
    plain = latent_map_figure(mu, sigma, labels)
    assert len({fig.layout.uirevision, other.layout.uirevision, plain.layout.uirevision}) == 3


def test_the_map_is_identical_when_rebuilt(cloud) -> None:
    """Streamlit derives the chart's identity from its spec: same inputs, same JSON."""
    mu, sigma, labels = cloud
    a = latent_map_figure(mu, sigma, labels, prior_contours=True)
    b = latent_map_figure(mu, sigma, labels, prior_contours=True)
    assert pio.to_json(a, validate=False) == pio.to_json(b, validate=False)


def test_the_legend_sits_under_the_plot_in_rows(cloud) -> None:
    """Never over the data, never under the toolbar (top right)."""
    mu, sigma, labels = cloud
    fig = latent_map_figure(mu, sigma, labels)
    legend = fig.layout.legend
    assert legend.orientation == "h" and legend.yref == "container" and legend.y == 0
    # The room below the plot holds the legend's rows (at the narrowest map the app draws).
    rows = legend_rows([t.name for t in fig.data] + [PRIOR_NAME, NO_VALUE_NAME])
    assert fig.layout.margin.b >= AXIS_ROOM + rows * LEGEND_ROW


def test_every_colouring_of_one_map_has_the_same_frame(cloud) -> None:
    """A colour bar narrowed the plot and the legend's rows changed its height, so switching
    colourings re-framed a zoomed view (the browser test measures the axes themselves)."""
    mu, sigma, labels = cloud
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
             "Bag", "Ankle boot")  # fmt: skip
    labels = labels % 10
    frames = set()
    for color, kind in ((labels, "class"), (sigma.mean(1), "continuous")):
        for prior in (False, True):
            fig = latent_map_figure(
                mu, sigma, color, color_kind=kind, class_names=names, prior_contours=prior
            )
            frames.add(tuple(fig.layout.margin[k] for k in "lrtb"))
            for trace in fig.data:
                if trace.marker.colorbar.title.text is not None:  # in the room kept for it
                    bar = trace.marker.colorbar
                    assert (bar.xref, bar.x, bar.xanchor) == ("container", 1.0, "right")
    assert len(frames) == 1


@pytest.mark.parametrize("kind", ["continuous", None])
def test_other_colourings(cloud, kind) -> None:
    mu, sigma, _ = cloud
    color = sigma.mean(1) if kind else None
    fig = latent_map_figure(mu, sigma, color, color_kind=kind, webgl_above=100)
    points = [t for t in fig.data if t.type == "scattergl"]  # many points: WebGL
    assert len(points) == 1
    assert sorted(np.asarray(points[0].customdata).tolist()) == list(range(300))


def test_bad_shapes_raise_one_clear_error(cloud) -> None:
    mu, sigma, labels = cloud
    with pytest.raises(ValueError, match="rows"):
        latent_map_figure(mu, sigma[:10], labels)
    with pytest.raises(ValueError, match="values"):
        latent_map_figure(mu, sigma, labels[:5])


def test_bounds_always_include_the_prior_core() -> None:
    (x0, x1), (y0, y1) = data_bounds(np.zeros((5, 2)), np.full((5, 2), 0.01))
    assert x0 < -2 and x1 > 2 and y0 < -2 and y1 > 2


def test_one_palette() -> None:
    from viz import compare, plots

    assert PALETTE[0] == plots.TRAIN_COLOR
    assert compare.PALETTE is PALETTE


def test_a_colouring_known_for_some_points_only_draws_the_others_grey():
    mu = np.arange(10, dtype=np.float32).reshape(5, 2)
    sigma = np.full((5, 2), 0.1, np.float32)
    values = np.array([np.nan, 1.0, np.nan, 3.0, 2.0])
    fig = latent_map_figure(mu, sigma, values, color_kind="continuous", color_label="gap")
    grey = next(t for t in fig.data if t.name == "no value")
    coloured = next(t for t in fig.data if t.name == "gap")
    assert list(grey.customdata) == [0, 2] and grey.marker.color == NO_VALUE_COLOR
    assert list(coloured.customdata) == [1, 3, 4]  # clicks still name the right test points
    np.testing.assert_array_equal(coloured.marker.color, [1.0, 3.0, 2.0])
    bubbles = bubble_data(mu, sigma, values, color_kind="continuous")
    assert bubbles.palette[bubbles.color[0]] == NO_VALUE_COLOR
    assert bubbles.palette[bubbles.color[2]] == NO_VALUE_COLOR
    assert NO_VALUE_COLOR not in {bubbles.palette[i] for i in bubbles.color[[1, 3, 4]]}


def test_under_bubbles_the_points_are_dots_and_a_projector_frames_the_data():
    """Issue 18: at full view Fashion's median 1σ radius (2.5 px) hid under a 3.5 px marker, and
    presenter mode showed the data across half the plot's width (a symmetric box)."""
    from viz.latent_map import framed_window, latent_map_figure, marker_size

    assert marker_size(10_000, under_bubbles=True) <= 0.5 * marker_size(10_000)
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(500, 2)) * [1.0, 0.5] + [3.0, -1.0]
    sigma = np.full((500, 2), 0.1)
    dots = latent_map_figure(mu, sigma, under_bubbles=True).data[0].marker.size
    assert dots == marker_size(500, under_bubbles=True) < marker_size(500)
    x0, x1, y0, y1 = framed_window(mu)
    span = mu.max(0) - mu.min(0)
    assert span[0] / (x1 - x0) >= 0.94 and span[1] / (y1 - y0) >= 0.94
    assert x0 < mu[:, 0].min() and x1 > mu[:, 0].max() and y0 < mu[:, 1].min()

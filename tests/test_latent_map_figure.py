"""The latent-map builders: geometry of the bubbles, ids of clickable points, determinism."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.io as pio
import pytest
from PIL import Image

from viz.latent_map import (
    GRID_ID,
    bubble_raster,
    data_bounds,
    ellipse_path,
    latent_map_figure,
)


@pytest.fixture
def cloud() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(300, 2)).astype(np.float32)
    sigma = rng.uniform(0.05, 0.4, size=(300, 2)).astype(np.float32)
    labels = rng.integers(0, 10, size=300)
    return mu, sigma, labels


def test_ellipse_path_points_lie_on_the_ellipses() -> None:
    mu = np.array([[0.0, 0.0], [3.0, -1.0]])
    radii = np.array([[1.0, 0.5], [0.2, 2.0]])
    xs, ys = ellipse_path(mu, radii, vertices=12)
    assert xs.shape == ys.shape == (2 * 14,)
    xs, ys = xs.reshape(2, 14), ys.reshape(2, 14)
    assert np.isnan(xs[:, -1]).all() and np.isnan(ys[:, -1]).all()  # one gap per ellipse
    for k in range(2):
        r = ((xs[k, :-1] - mu[k, 0]) / radii[k, 0]) ** 2 + (
            (ys[k, :-1] - mu[k, 1]) / radii[k, 1]
        ) ** 2
        np.testing.assert_allclose(r, 1.0, atol=1e-5)
        assert xs[k, 0] == pytest.approx(xs[k, -2])  # closed


def test_every_point_is_clickable_once_with_its_index(cloud) -> None:
    mu, sigma, labels = cloud
    fig = latent_map_figure(mu, sigma, labels, click_grid=True, grid_size=30)
    grid = [t for t in fig.data if t.name == "click grid"]
    assert len(grid) == 1 and len(grid[0].x) == 900
    assert set(np.asarray(grid[0].customdata).tolist()) == {GRID_ID}
    points = [t for t in fig.data if t.customdata is not None and t.name != "click grid"]
    assert len(points) == 10  # one trace per class, for the legend
    assert {t.type for t in points} == {"scatter"}  # few points: SVG, no WebGL canvas
    ids = np.concatenate([np.asarray(t.customdata) for t in points])
    assert sorted(ids.tolist()) == list(range(300))
    for trace in points:  # customdata really is the index of the point drawn there
        idx = np.asarray(trace.customdata)
        np.testing.assert_allclose(np.asarray(trace.x), mu[idx, 0])
        np.testing.assert_allclose(np.asarray(trace.y), mu[idx, 1])


def test_bubbles_are_sigma_ellipses_in_latent_units(cloud) -> None:
    mu, sigma, labels = cloud
    off = latent_map_figure(mu, sigma, labels, bubbles="off")
    assert not [t for t in off.data if t.type == "scatter" and t.fill == "toself"]
    for bubbles, k in (("1σ", 1.0), ("2σ", 2.0)):
        fig = latent_map_figure(mu, sigma, labels, bubbles=bubbles)
        paths = [t for t in fig.data if t.type == "scatter" and t.fill == "toself"]
        assert len(paths) == 10
        xs = np.asarray(paths[0].x, dtype=np.float64).reshape(-1, 18)[:, :-1]
        members = np.flatnonzero(labels == labels.min())
        widths = (np.nanmax(xs, 1) - np.nanmin(xs, 1)) / 2  # (n,) half-widths
        np.testing.assert_allclose(widths, k * sigma[members, 0], rtol=1e-4)


def test_bubbles_beyond_the_svg_limit_become_a_raster_in_data_coordinates(cloud) -> None:
    mu, sigma, labels = cloud
    fig = latent_map_figure(mu, sigma, labels, bubbles="2σ", svg_bubble_limit=100)
    assert not [t for t in fig.data if t.type == "scatter" and t.fill == "toself"]
    (image,) = fig.layout.images
    (x0, x1), (y0, y1) = data_bounds(mu, sigma)
    assert (image.xref, image.yref) == ("x", "y")
    assert image.x == pytest.approx(x0) and image.y == pytest.approx(y1)
    assert image.sizex == pytest.approx(x1 - x0) and image.sizey == pytest.approx(y1 - y0)


def test_bubble_raster_paints_inside_the_ellipse_only() -> None:
    mu = np.array([[1.0, -1.0]])
    radii = np.array([[0.5, 0.25]])
    uri = bubble_raster(mu, radii, [("#ff0000", np.array([0]))], (-2.0, 2.0), (-2.0, 2.0), 400)
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert img.shape == (400, 400, 4)
    # data (x, y) -> pixel (col, row) with row 0 at the top (y = 2)
    col, row = int((1.0 + 2) * 100), int((2 - -1.0) * 100)
    assert img[row, col, 3] > 0 and img[row, col, 0] == 255
    assert img[row, col + 45, 3] > 0  # inside: 0.45 < 0.5 along x
    assert img[row + 35, col, 3] == 0  # outside: 0.35 > 0.25 along y
    assert img[10, 10, 3] == 0


def test_the_map_is_identical_when_rebuilt(cloud) -> None:
    """Streamlit derives the chart's identity from its spec: same inputs, same JSON."""
    mu, sigma, labels = cloud
    a = latent_map_figure(mu, sigma, labels, click_grid=True, prior_contours=True)
    b = latent_map_figure(mu, sigma, labels, click_grid=True, prior_contours=True)
    assert pio.to_json(a, validate=False) == pio.to_json(b, validate=False)


@pytest.mark.parametrize("kind", ["continuous", None])
def test_other_colourings(cloud, kind) -> None:
    mu, sigma, _ = cloud
    color = sigma.mean(1) if kind else None
    fig = latent_map_figure(mu, sigma, color, color_kind=kind, bubbles="1σ", webgl_above=100)
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

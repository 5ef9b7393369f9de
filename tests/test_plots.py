"""Plot and image builders: exact pixels, traces that match the history, PNG round trips."""

from __future__ import annotations

import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from viz.plots import (
    bubble_sketch,
    display_factor,
    image_grid,
    image_strip,
    loss_curves,
    to_png_bytes,
    to_uint8,
    upscale,
)


def history(epochs: int, test_every: int = 1) -> list[dict]:
    rows = []
    for e in range(1, epochs + 1):
        row = {"epoch": e, "train_elbo": -100.0 + e, "train_recon": 90.0 - e, "train_kl": 10.0}
        if e % test_every == 0:
            row.update(test_elbo=-101.0 + e, test_recon=91.0 - e, test_kl=10.0)
        rows.append(row)
    return rows


def test_loss_curves_draw_train_and_test_for_each_term():
    fig = loss_curves(history(5))
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 6  # (train, test) x (elbo, recon, kl)
    train_elbo = fig.data[0]
    assert train_elbo.name == "train"
    assert list(train_elbo.x) == [1, 2, 3, 4, 5]
    assert list(train_elbo.y) == [-99.0, -98.0, -97.0, -96.0, -95.0]
    assert fig.data[1].line.dash == "dash" and list(fig.data[1].y)[0] == -100.0
    assert sum(t.showlegend for t in fig.data) == 2  # one legend entry per split


def test_loss_curves_skip_epochs_without_test_metrics_and_empty_history():
    fig = loss_curves(history(6, test_every=3))
    test_elbo = next(t for t in fig.data if t.name == "test")
    assert list(test_elbo.x) == [3, 6]
    assert len(loss_curves([]).data) == 0


def test_upscale_is_nearest_neighbour():
    image = np.array([[0.0, 1.0], [0.5, 0.25]])
    big = upscale(image, 3)
    assert big.shape == (6, 6)
    np.testing.assert_array_equal(big[:3, :3], 0.0)
    np.testing.assert_array_equal(big[:3, 3:], 1.0)
    np.testing.assert_array_equal(big[3:, 3:], 0.25)
    np.testing.assert_array_equal(big[::3, ::3], image)
    with pytest.raises(ValueError):
        upscale(image, 0)


def test_png_round_trip_keeps_the_pixels():
    rng = np.random.default_rng(0)
    image = rng.random((8, 8)).astype(np.float32)
    png = to_png_bytes(image, scale=4)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert decoded.shape == (32, 32)
    np.testing.assert_array_equal(decoded[::4, ::4], np.round(image * 255).astype(np.uint8))


def test_png_clips_out_of_range_and_nan():
    png = to_png_bytes(np.array([[-1.0, 2.0], [np.nan, 0.5]]))
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    np.testing.assert_array_equal(decoded, [[0, 255], [0, 128]])
    with pytest.raises(ValueError):
        to_png_bytes(np.zeros((2, 2, 2)))


def test_strip_and_grid_place_images_with_gaps():
    images = np.stack([np.full((2, 3), v) for v in (0.0, 0.5, 1.0)])  # (3, 2, 3)
    strip = image_strip(images, gap=1, gap_value=0.75)
    assert strip.shape == (2, 3 * 3 + 2)
    np.testing.assert_array_equal(strip[:, 0:3], 0.0)
    np.testing.assert_array_equal(strip[:, 3], 0.75)
    np.testing.assert_array_equal(strip[:, 4:7], 0.5)
    grid = image_grid(images.reshape(3, 1, 2, 3), gap=2)
    assert grid.shape == (3 * 2 + 2 * 2, 3)
    np.testing.assert_array_equal(grid[4:6], 0.5)  # row 1 starts after image 0 and a 2-px gap
    with pytest.raises(ValueError):
        image_grid(images)


def test_to_uint8_clips_and_rounds_to_nearest_and_display_factor():
    levels = to_uint8(np.array([-0.5, 0.0, 0.5 / 255, 0.49 / 255, 1.0, 1.5, np.nan]))
    assert levels.dtype == np.uint8 and levels.tolist() == [0, 0, 1, 0, 255, 255, 0]
    assert display_factor((8, 8)) == 14
    assert display_factor((28, 28)) == 4
    assert display_factor((500, 500)) == 1


def test_bubble_sketch_draws_each_bubble_at_one_sigma():
    mu = np.array([[1.0, 0.5], [-1.0, -0.5]])
    sigma = np.array([[0.2, 0.4], [0.8, 0.3]])
    fig = bubble_sketch(mu, sigma, ["a", "b"])
    bubbles = [t for t in fig.data if t.fill == "toself"]
    assert len(bubbles) == 2
    xs, ys = np.asarray(bubbles[0].x), np.asarray(bubbles[0].y)
    # Every vertex lies on the ellipse ((x - mu_x) / s_x)^2 + ((y - mu_y) / s_y)^2 = 1.
    np.testing.assert_allclose(((xs - 1.0) / 0.2) ** 2 + ((ys - 0.5) / 0.4) ** 2, 1.0, atol=1e-9)
    centres = fig.data[-1]
    assert list(centres.text) == ["a", "b"]
    np.testing.assert_array_equal(centres.x, [1.0, -1.0])
    prior = fig.data[0]
    np.testing.assert_allclose(np.hypot(prior.x, prior.y), 1.0, atol=1e-9)


def test_loss_curves_stacked_share_the_epoch_axis():
    fig = loss_curves(history(3), stacked=True)
    assert len(fig.data) == 6
    assert {t.xaxis for t in fig.data} == {"x", "x2", "x3"}
    assert fig.layout.xaxis.matches == fig.layout.xaxis2.matches == "x3"  # zoom one, zoom all
    assert fig.layout.xaxis3.title.text == "epoch" and not fig.layout.xaxis.title.text

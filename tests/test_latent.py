"""Latent-space operations: paths, grids, dataset encoding and the quality measures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from vae import VAE, ModelConfig
from vae.latent import (
    decode_grid,
    decode_latents,
    encode_dataset,
    interpolation_path,
    kl_per_example,
    knn_accuracy,
    latent_grid,
    slerp,
)
from vae.losses import gaussian_kl


@pytest.fixture(scope="module")
def model() -> VAE:
    torch.manual_seed(0)
    return VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(16,))).eval()


def test_slerp_endpoints_and_norms() -> None:
    a, b = np.array([2.0, 0.0]), np.array([0.0, 4.0])
    t = np.linspace(0, 1, 11)
    path = slerp(a, b, t)
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)
    # Norms interpolate linearly, directions follow the great circle (angle linear in t).
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 2 + 2 * t, atol=1e-12)
    np.testing.assert_allclose(np.arctan2(path[:, 1], path[:, 0]), t * np.pi / 2, atol=1e-12)


def test_slerp_degenerate_cases_fall_back_to_a_line() -> None:
    t = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(slerp(np.zeros(2), np.array([1.0, 1.0]), t)[1], [0.5, 0.5])
    np.testing.assert_allclose(slerp(np.array([1.0, 0]), np.array([3.0, 0]), t)[1], [2.0, 0])


@pytest.mark.parametrize("mode", ["linear", "spherical"])
def test_interpolation_path_is_uniform_in_arc_length(mode: str) -> None:
    # Legs of very different lengths: equal slider steps must still be equal distances.
    waypoints = np.array([[-2.0, 0.0], [-1.9, 0.1], [2.0, 1.5], [0.5, -2.0]])
    path = interpolation_path(waypoints, 60, mode=mode)
    assert path.shape == (60, 2)
    np.testing.assert_allclose(path[0], waypoints[0], atol=1e-9)
    np.testing.assert_allclose(path[-1], waypoints[-1], atol=1e-9)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    # Equal arc-length steps; a chord that cuts a waypoint's corner is shorter, never longer.
    typical = np.median(steps)
    assert np.mean(np.abs(steps - typical) < 1e-2 * typical) > 0.9
    assert steps.max() < typical * 1.01
    assert steps.min() > typical * 0.5


def test_interpolation_path_refuses_too_little() -> None:
    with pytest.raises(ValueError, match="two waypoints"):
        interpolation_path(np.array([[0.0, 0.0]]), 10)
    with pytest.raises(ValueError, match="two points"):
        interpolation_path(np.zeros((2, 2)) + [[0, 0], [1, 1]], 1)
    same = interpolation_path(np.ones((3, 2)), 5)  # zero length: stays put
    np.testing.assert_array_equal(same, np.ones((5, 2)))


def test_latent_grid_quantile_spacing_matches_scipy() -> None:
    xs, ys = latent_grid(9, spacing="quantile")
    expected = norm.ppf((np.arange(1, 10)) / 10)  # equal prior mass between neighbours
    np.testing.assert_allclose(xs, expected)
    np.testing.assert_allclose(ys, expected)
    np.testing.assert_allclose(norm.cdf(xs[1:]) - norm.cdf(xs[:-1]), 0.1)
    lx, ly = latent_grid(5, (-1.0, 1.0), (0.0, 2.0))
    np.testing.assert_allclose(lx, [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_allclose(ly, [0, 0.5, 1, 1.5, 2])


def test_decode_grid_shape_and_order(model: VAE) -> None:
    xs, ys = np.linspace(-2, 2, 4), np.linspace(-1, 1, 3)
    grid = decode_grid(model, xs, ys)
    assert grid.shape == (3, 4, 64)
    # Row r, column c is the decoding of (xs[c], ys[r]).
    single = decode_latents(model, np.array([[xs[2], ys[1]]]))[0]
    np.testing.assert_allclose(grid[1, 2], single, rtol=1e-5, atol=1e-6)


def test_encode_dataset_matches_the_model(model: VAE) -> None:
    x = np.random.default_rng(0).random((50, 64), dtype=np.float32)
    mu, sigma = encode_dataset(model, x, batch_size=16)  # batching must not matter
    ref_mu, ref_logvar = model.encode(torch.as_tensor(x))
    np.testing.assert_allclose(mu, ref_mu.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sigma, torch.exp(0.5 * ref_logvar).detach().numpy(), rtol=1e-5)


def test_kl_helpers_agree_with_the_loss() -> None:
    rng = np.random.default_rng(1)
    mu, sigma = rng.normal(size=(20, 2)), rng.uniform(0.1, 2, size=(20, 2))
    per_dim = gaussian_kl(torch.as_tensor(mu), torch.as_tensor(2 * np.log(sigma)))
    np.testing.assert_allclose(kl_per_example(mu, sigma), per_dim.sum(-1).numpy())


def test_knn_accuracy_separable_and_random() -> None:
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2], 100)
    centres = np.array([[-5.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    train_mu = centres[labels] + rng.normal(scale=0.3, size=(300, 2))
    test_mu = centres[labels] + rng.normal(scale=0.3, size=(300, 2))
    assert knn_accuracy(train_mu, labels, test_mu, labels) == 1.0
    noise = rng.normal(size=(300, 2))
    assert knn_accuracy(noise, labels, rng.normal(size=(300, 2)), labels) < 0.5


def test_active_units() -> None:
    from vae.density import kl_forces

    rng = np.random.default_rng(3)
    mu = np.stack([rng.normal(size=500), np.full(500, 0.3) + rng.normal(scale=0.01, size=500)], 1)
    sigma = np.ones_like(mu)
    np.testing.assert_array_equal(kl_forces(mu, sigma).active, [True, False])
    np.testing.assert_array_equal(kl_forces(mu, sigma, 2.0).active, [False, False])


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_reconstruction_nll_at_mean_is_minus_log_p_x_given_mu_in_nats(likelihood) -> None:
    from vae.latent import reconstruction_nll_at_mean

    torch.manual_seed(1)
    model = VAE(ModelConfig(input_dim=6, hidden=(8,), likelihood=likelihood)).eval()
    x = torch.rand(5, 6)
    if likelihood == "bernoulli":
        x = (x > 0.5).float()
    with torch.no_grad():
        mu, _ = model.encode(x)
        out = model.decode(mu)
        if likelihood == "bernoulli":
            p_x = torch.distributions.Bernoulli(logits=out)
        else:
            p_x = torch.distributions.Normal(out, torch.exp(model.log_sigma_x))
        expected = -p_x.log_prob(x).sum(-1).numpy()
    got = reconstruction_nll_at_mean(model, x.numpy(), batch_size=2)  # batches must not matter
    assert got.shape == (5,)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_the_map_colours_reconstruction_in_nats() -> None:
    from types import SimpleNamespace

    from ui.colourings import colour_values

    view = SimpleNamespace(recon_nll=np.array([260.0, 270.0]))
    values, kind, label = colour_values(view, "reconstruction error")
    assert kind == "continuous" and list(values) == [260.0, 270.0]
    assert "nats" in label and "log p(x|z=μ)" in label

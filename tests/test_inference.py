"""Exact inference in the 2-D latent plane against closed forms and against IWAE.

A linear-Gaussian decoder x = Wz + b + noise has p(x) = N(b, WWᵀ + s²I) and a Gaussian
posterior in closed form (Bishop 2006, §2.3.3): the quadrature must reproduce both.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vae import VAE, ModelConfig, TrainConfig, iwae_log_likelihood, train
from vae.data import load_dataset
from vae.inference import (
    decode_plane,
    exact_log_likelihood,
    exact_posterior,
    gaussian_elbo,
    inference_gaps,
    kl_to_posterior_on_grid,
    log_px_estimates,
    optimal_gaussian,
    posterior_window,
)

D, SIGMA = 6, 0.3


def linear_gaussian(scale: float, seed: int = 0) -> tuple[VAE, np.ndarray, np.ndarray]:
    """A VAE whose decoder is x = Wz + b with fixed noise SIGMA; returns it with W and b."""
    torch.manual_seed(seed)
    model = VAE(ModelConfig(input_dim=D, hidden=(8,), likelihood="gaussian", gaussian_sigma=SIGMA))
    model.decoder = nn.Linear(2, D)
    with torch.no_grad():
        model.decoder.weight.mul_(scale)
    model.eval()
    w = model.decoder.weight.detach().double().numpy()  # (D, 2)
    b = model.decoder.bias.detach().double().numpy()
    return model, w, b


def closed_form(w, b, x):
    """log N(x; b, WWᵀ + s²I) per row of x, and the posterior mean (N, 2) and covariance."""
    cov_x = w @ w.T + SIGMA**2 * np.eye(D)
    centred = x - b
    _, logdet = np.linalg.slogdet(cov_x)
    quad = np.einsum("nd,de,ne->n", centred, np.linalg.inv(cov_x), centred)
    log_px = -0.5 * (quad + logdet + D * math.log(2 * math.pi))
    post_cov = np.linalg.inv(np.eye(2) + w.T @ w / SIGMA**2)
    post_mean = centred @ w @ post_cov / SIGMA**2  # post_cov is symmetric
    return log_px, post_mean, post_cov


@pytest.mark.parametrize("scale", [1.0, 8.0])  # posterior sd ~0.2 and ~0.02
def test_quadrature_log_likelihood_matches_the_linear_gaussian_closed_form(scale):
    model, w, b = linear_gaussian(scale)
    z = np.random.default_rng(1).normal(size=(20, 2))
    x = z @ w.T + b + SIGMA * np.random.default_rng(2).normal(size=(20, D))
    exact = exact_log_likelihood(model, x.astype(np.float32))
    reference, _, _ = closed_form(w, b, x.astype(np.float32).astype(np.float64))
    assert np.abs(exact.log_px - reference).max() < 0.01
    assert (exact.error < 0.01).all()  # the stated error agrees that the grid was fine enough


@pytest.mark.parametrize("scale", [1.0, 8.0])
def test_grid_posterior_moments_match_the_linear_gaussian_closed_form(scale):
    model, w, b = linear_gaussian(scale)
    x = (np.array([0.7, -1.2]) @ w.T + b + 0.1).astype(np.float32)
    _, mean, cov = closed_form(w, b, x[None].astype(np.float64))
    grid = exact_posterior(model, x, posterior_window(model, x), resolution=160)
    sd = np.sqrt(np.diag(cov))
    assert np.abs(grid.mean - mean[0]).max() < 0.01 * sd.max()
    assert np.abs(grid.cov - cov).max() < 0.01 * cov.max()
    assert len(grid.modes) == 1  # a Gaussian posterior has one mode, at its mean
    assert np.abs(grid.modes[0] - mean[0]).max() < 2 * (grid.xs[1] - grid.xs[0])


def test_optimal_gaussian_is_the_exact_posterior_for_a_linear_gaussian_model():
    """The posterior is Gaussian, so q* closes the approximation gap (KL(q*‖p(z|x)) = 0)."""
    model, w, b = linear_gaussian(1.0)
    x = (np.random.default_rng(3).normal(size=(5, 2)) @ w.T + b).astype(np.float32)
    log_px, mean, cov = closed_form(w, b, x.astype(np.float64))
    best = optimal_gaussian(model, x)
    # The posterior is correlated (WᵀW is not diagonal): the best diagonal Gaussian has the
    # posterior's mean and variances 1/Λ_ii (Λ its precision; Bishop 2006, §10.1.2), and
    # leaves KL = ½ (log|Σ| + Σ log Λ_ii), the approximation gap of a linear-Gaussian VAE.
    precision = np.diag(np.linalg.inv(cov))
    assert np.abs(best.mu - mean).max() < 1e-3
    assert np.abs(np.exp(best.logvar) - 1 / precision).max() < 1e-3 * cov.max()
    mean_field = 0.5 * (np.linalg.slogdet(cov)[1] + np.log(precision).sum())
    assert mean_field > 0.05  # the test would be weak if the posterior were nearly diagonal
    assert np.abs((log_px - best.elbo) - mean_field).max() < 1e-3
    assert (best.elbo >= best.elbo_encoder).all()


@pytest.fixture(scope="module")
def digits_model():
    digits = load_dataset("digits")
    torch.manual_seed(0)
    model = VAE(
        ModelConfig(input_dim=digits.input_dim, image_shape=digits.image_shape, hidden=(64,))
    )
    train(
        model, digits.x_train, None, TrainConfig(epochs=20, batch_size=64, snapshot_latents=False)
    )
    model.eval()
    return model, torch.as_tensor(digits.x_test, dtype=torch.float32)


def test_gauss_hermite_elbo_agrees_with_a_monte_carlo_elbo(digits_model):
    model, x = digits_model
    with torch.no_grad():
        mu, logvar = model.encode(x[:2])
        quadrature = gaussian_elbo(model, x[:2], mu, logvar)
    for i in range(2):
        runs = log_px_estimates(model, x[i], ks=(20_000,), runs=1, seed=i)
        assert abs(runs.elbo[0, 0] - float(quadrature[i])) < 0.05


def test_the_gaps_on_digits_are_consistent_and_q_star_beats_the_encoder(digits_model):
    model, x = digits_model
    gaps = inference_gaps(model, x[:16])
    assert (gaps.elbo_optimal >= gaps.elbo_encoder).all()
    # log p(x) >= ELBO(q*): the approximation gap is a KL, non-negative up to quadrature error.
    assert (gaps.approximation_gap >= -gaps.log_px_error - 1e-3).all()
    np.testing.assert_allclose(
        gaps.inference_gap, gaps.approximation_gap + gaps.amortisation_gap, atol=1e-6
    )
    # KL(q ‖ p(z|x)) on a grid around q equals log p(x) − ELBO(q): two different quadratures.
    with torch.no_grad():
        mu, logvar = model.encode(x[:3])
    for i in range(3):
        kl = kl_to_posterior_on_grid(model, x[i], mu[i], logvar[i], gaps.log_px[i])
        assert abs(kl - gaps.inference_gap[i]) < 0.02


@pytest.mark.slow
def test_exact_log_likelihood_agrees_with_iwae_on_digits(digits_model):
    model, x = digits_model
    points = x[:200]
    exact = exact_log_likelihood(model, points)
    iwae = iwae_log_likelihood(model, points, k=20_000, seed=0).double().numpy()
    assert np.abs(exact.log_px - iwae).mean() <= 0.1
    # IWAE is a lower bound in expectation: on average it cannot beat the exact value.
    assert iwae.mean() <= exact.log_px.mean() + exact.error.mean()


def test_the_naive_prior_estimator_lags_behind_importance_sampling(digits_model):
    """Prior draws rarely land where p(x|z) is large: far below log p(x) where IWAE is close."""
    model, x = digits_model
    exact = exact_log_likelihood(model, x[:1], plane=decode_plane(model)).log_px[0]
    runs = log_px_estimates(model, x[0], ks=(1, 1000), runs=10)
    assert runs.naive[:, 0].mean() < exact - 1.0
    assert runs.naive[:, 0].mean() < runs.iwae[:, 0].mean() - 1.0
    assert abs(runs.iwae[:, -1].mean() - exact) < 0.05
    assert np.allclose(runs.iwae[:, 0], runs.elbo[:, 0])  # at k = 1 IWAE is the ELBO
    assert np.ptp(runs.elbo[:, -1]) < np.ptp(runs.elbo[:, 0])  # more samples, less spread


def test_a_model_without_a_2d_latent_space_is_refused():
    model = VAE(ModelConfig(input_dim=4, hidden=(8,), latent_dim=3))
    with pytest.raises(ValueError, match="2-D latent plane"):
        exact_log_likelihood(model, np.zeros((1, 4), np.float32))


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
@pytest.mark.skipif(
    not (FASHION / "t10k-images-idx3-ubyte.gz").exists(), reason=f"Fashion-MNIST not at {FASHION}"
)
def test_exact_log_likelihood_agrees_with_iwae_on_fashion_mnist():
    """A quickly trained Fashion-MNIST MLP: narrower posteriors than digits, 784 pixels."""
    fashion = load_dataset("fashion-mnist", data_dir=FASHION)
    torch.manual_seed(0)
    model = VAE(ModelConfig(input_dim=784, image_shape=(28, 28), hidden=(256,)))
    config = TrainConfig(epochs=2, batch_size=128, snapshot_latents=False)
    train(model, fashion.x_train[:20_000], None, config)
    model.eval()
    points = torch.as_tensor(fashion.x_test[:200], dtype=torch.float32)
    exact = exact_log_likelihood(model, points)
    iwae = iwae_log_likelihood(model, points, k=20_000, seed=0).double().numpy()
    assert np.abs(exact.log_px - iwae).mean() <= 0.1
    assert iwae.mean() <= exact.log_px.mean() + exact.error.mean()
    best = optimal_gaussian(model, points[:50])
    assert (best.elbo >= best.elbo_encoder).all()

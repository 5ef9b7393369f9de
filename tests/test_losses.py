"""The objective against torch.distributions, and the IWAE bound's defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae import VAE, ModelConfig, TrainConfig, train
from vae.losses import gaussian_kl, iwae_log_likelihood, reconstruction_nll, vae_loss


def test_gaussian_kl_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    mu = torch.randn(64, 5, dtype=torch.float64) * 2
    logvar = torch.randn(64, 5, dtype=torch.float64) * 1.5
    reference = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, logvar).sum(-1), reference)


def test_gaussian_kl_is_zero_only_at_the_prior() -> None:
    zero = gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3))
    assert torch.equal(zero, torch.zeros(1, 3))
    assert (gaussian_kl(torch.full((1, 3), 0.1), torch.zeros(1, 3)) > 0).all()


def test_bernoulli_nll_matches_log_prob() -> None:
    torch.manual_seed(1)
    model = VAE(ModelConfig(input_dim=12, hidden=(8,)))
    x = torch.bernoulli(torch.full((7, 12), 0.4))
    logits = torch.randn(7, 12) * 3
    reference = -Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(reconstruction_nll(model, x, logits), reference)


@pytest.mark.parametrize("sigma", [None, 0.3])
def test_gaussian_nll_matches_log_prob(sigma: float | None) -> None:
    torch.manual_seed(2)
    model = VAE(ModelConfig(input_dim=6, hidden=(8,), likelihood="gaussian", gaussian_sigma=sigma))
    if sigma is None:  # a learned sigma: give it values that are not all 1
        with torch.no_grad():
            model.log_sigma_x.copy_(torch.linspace(-1, 1, 6))
    x, mean = torch.randn(5, 6), torch.randn(5, 6)
    reference = -Normal(mean, model.log_sigma_x.exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(reconstruction_nll(model, x, mean), reference)


def test_vae_loss_weights_only_the_kl() -> None:
    torch.manual_seed(3)
    model = VAE(ModelConfig(input_dim=10, hidden=(8,)))
    x = torch.rand(4, 10)
    torch.manual_seed(4)
    full = vae_loss(model, x, beta=1.0)
    torch.manual_seed(4)
    half = vae_loss(model, x, beta=0.5)
    torch.testing.assert_close(half.loss, half.recon + 0.5 * half.kl)
    torch.testing.assert_close(full.recon, half.recon)
    torch.testing.assert_close(full.elbo, -(full.recon + full.kl))


@pytest.fixture(scope="module")
def digits_model() -> tuple[VAE, torch.Tensor]:
    """A small VAE trained briefly on scikit-learn's digits, and 300 held-out binarised digits."""
    x = load_digits().data.astype(np.float32) / 16.0  # (1797, 64)
    model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(64, 32)))
    config = TrainConfig(epochs=10, batch_size=32, lr=3e-3, device="cpu", snapshot_latents=False)
    train(model, x[:-300], None, config)
    held_out = torch.bernoulli(
        torch.as_tensor(x[-300:]), generator=torch.Generator().manual_seed(0)
    )
    return model, held_out


def test_iwae_bound_grows_with_k(digits_model: tuple[VAE, torch.Tensor]) -> None:
    model, x = digits_model
    bounds = [iwae_log_likelihood(model, x, k=k, seed=10).mean().item() for k in (1, 10, 100)]
    torch.manual_seed(5)
    elbo = torch.stack([vae_loss(model, x).elbo for _ in range(20)])
    assert bounds[0] < bounds[1] < bounds[2], bounds
    assert bounds[2] > elbo.mean().item()  # IWAE_100 >= ELBO, averaged over 20 x 300 draws


def test_iwae_with_one_sample_is_the_elbo_in_expectation(
    digits_model: tuple[VAE, torch.Tensor],
) -> None:
    model, x = digits_model
    repeats = 30
    iw1 = torch.stack([iwae_log_likelihood(model, x, k=1, seed=100 + r) for r in range(repeats)])
    torch.manual_seed(6)
    elbo = torch.stack([vae_loss(model, x).elbo for _ in range(repeats)])
    # Both are unbiased one-sample estimates of the same ELBO (one with the KL in closed form):
    # their means agree to within a few standard errors.
    standard_error = math.sqrt(iw1.var().item() / iw1.numel() + elbo.var().item() / elbo.numel())
    assert abs(iw1.mean().item() - elbo.mean().item()) < 4 * standard_error


def test_iwae_chunking_does_not_change_the_estimate(
    digits_model: tuple[VAE, torch.Tensor],
) -> None:
    model, x = digits_model
    whole = iwae_log_likelihood(model, x[:50], k=40, seed=7)
    # 64 * 3 elements per chunk: 3 samples of 1 example at a time.
    chunked = iwae_log_likelihood(model, x[:50], k=40, seed=7, max_elements=64 * 3)
    torch.testing.assert_close(chunked, whole)
    other_seed = iwae_log_likelihood(model, x[:50], k=40, seed=8)
    assert not torch.equal(other_seed, whole)


def test_iwae_refuses_k_below_one(digits_model: tuple[VAE, torch.Tensor]) -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        iwae_log_likelihood(digits_model[0], digits_model[1], k=0)

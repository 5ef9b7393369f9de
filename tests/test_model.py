"""The VAE's shapes and its gradient path through the reparameterisation."""

from __future__ import annotations

import pytest
import torch

from vae import VAE, ModelConfig
from vae.losses import vae_loss

CONFIGS = {
    "mlp": ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(32, 16), latent_dim=3),
    "conv": ModelConfig(input_dim=784, image_shape=(28, 28), architecture="conv", hidden=(32,)),
    "gaussian": ModelConfig(input_dim=5, hidden=(16,), likelihood="gaussian"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_shapes(name: str) -> None:
    config = CONFIGS[name]
    model = VAE(config)
    x = torch.rand(4, config.input_dim)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (4, config.latent_dim)
    decoded, mu2, _ = model(x)
    assert decoded.shape == (4, config.input_dim)
    assert torch.equal(mu, mu2)  # encoding is deterministic
    z = torch.randn(6, config.latent_dim)
    assert model.decode(z).shape == model.decode_mean(z).shape == (6, config.input_dim)


def test_bernoulli_mean_is_a_probability() -> None:
    model = VAE(CONFIGS["mlp"])
    mean = model.decode_mean(torch.randn(10, 3) * 5)
    assert ((mean >= 0) & (mean <= 1)).all()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gradients_reach_the_encoder_through_the_sample(name: str) -> None:
    """The reconstruction term alone (no KL) must train the encoder: the gradient flows through
    z = mu + sigma * eps into both mu and sigma, which is the point of the reparameterisation."""
    torch.manual_seed(0)
    model = VAE(CONFIGS[name])
    x = torch.rand(8, model.config.input_dim)
    terms = vae_loss(model, x, beta=0.0)
    terms.loss.mean().backward()
    head = model.encoder_head.weight.grad  # (2k, hidden): rows for mu, then for log sigma^2
    k = model.config.latent_dim
    assert head is not None
    assert head[:k].abs().sum() > 0 and head[k:].abs().sum() > 0
    for parameter in model.encoder_body.parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0


def test_reparameterize_moments() -> None:
    torch.manual_seed(1)
    mu = torch.tensor([[1.0, -2.0]]).expand(200_000, 2)
    logvar = torch.log(torch.tensor([[0.25, 4.0]])).expand(200_000, 2)
    z = VAE.reparameterize(mu, logvar)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([0.5, 2.0]), atol=0.02, rtol=0)


def test_learned_sigma_is_a_parameter_fixed_sigma_is_not() -> None:
    learned = VAE(ModelConfig(input_dim=5, hidden=(4,), likelihood="gaussian"))
    fixed = VAE(ModelConfig(input_dim=5, hidden=(4,), likelihood="gaussian", gaussian_sigma=0.5))
    assert any(p is learned.log_sigma_x for p in learned.parameters())
    assert all(p is not fixed.log_sigma_x for p in fixed.parameters())
    torch.testing.assert_close(fixed.log_sigma_x.exp(), torch.full((5,), 0.5))

"""The VAE: encode -> (mu, logvar), reparameterize, decode -> likelihood parameters.

The public face follows pytorch/examples `vae/main.py`: every architecture takes and returns
flattened examples (B, D), so that callers never care whether the network is an MLP or a CNN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


def soft_upper_bound(raw: torch.Tensor, high: float) -> torch.Tensor:
    """high - softplus(high - raw): a smooth, strictly increasing map of R onto (-inf, high).

    Since softplus(t) = t + log(1 + e^-t), the result is raw - log(1 + e^(raw - high)): it
    differs from raw by at most e^(raw - high), i.e. less than 0.007 wherever raw <= high - 5,
    so well inside the range it is the identity and a model trains as if unbounded. Its
    gradient, sigmoid(high - raw), is in (0, 1): it never grows, and fades only above the bound.
    """
    return high - F.softplus(high - raw)


ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "relu": nn.ReLU}


def _mlp(widths: tuple[int, ...], activation: str) -> nn.Sequential:
    """Linear layers with the activation between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:], strict=False)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(widths) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class _ConvEncoder(nn.Module):
    """(B, 784) -> (B, hidden[-1]) for 28x28 images: two stride-2 convolutions, 28 -> 14 -> 7."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 32, 4, stride=2, padding=1),  # (B, 32, 14, 14)
            nn.SiLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1),  # (B, 64, 7, 7)
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, config.hidden[-1]),
            nn.SiLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _ConvDecoder(nn.Module):
    """(B, latent) -> (B, 784): the mirror image of _ConvEncoder."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden[-1]),
            nn.SiLU(),
            nn.Linear(config.hidden[-1], 64 * 7 * 7),
            nn.SiLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),  # (B, 32, 14, 14)
            nn.SiLU(),
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1),  # (B, 1, 28, 28)
            nn.Flatten(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class VAE(nn.Module):
    """q(z|x) = N(mu(x), diag sigma^2(x)), p(z) = N(0, I), p(x|z) Bernoulli or Gaussian."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d, k = config.input_dim, config.latent_dim
        if config.architecture == "conv":
            self.encoder_body: nn.Module = _ConvEncoder(config)
            self.decoder: nn.Module = _ConvDecoder(config)
        else:
            widths = (d, *config.hidden)
            activation = config.activation
            self.encoder_body = nn.Sequential(_mlp(widths, activation), ACTIVATIONS[activation]())
            self.decoder = _mlp((k, *reversed(config.hidden), d), activation)
        # One head emits both mu and log sigma^2: (B, 2k), split in encode().
        self.encoder_head = nn.Linear(config.hidden[-1], 2 * k)
        # Ceiling of log sigma^2 (see encode), None for the unbounded sigma of old checkpoints.
        bound = config.max_posterior_sigma
        self.max_logvar = None if bound is None else 2.0 * math.log(bound)
        if config.likelihood == "gaussian" and config.gaussian_sigma is None:
            # Learned per-dimension observation noise, log sigma_x: (D,).
            self.log_sigma_x = nn.Parameter(torch.zeros(d))
        else:
            fixed = math.log(config.gaussian_sigma or 1.0)
            self.register_buffer("log_sigma_x", torch.full((d,), fixed))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D) -> mu (B, k), logvar (B, k), with sigma = exp(logvar / 2) <= max_posterior_sigma.

        Why a bound: a linear head lets log sigma^2 grow without limit on inputs unlike the
        training data. A Fashion-MNIST model trained without it gave one grey test image
        sigma = 13.2 and binarised test images up to sigma = 3.5e11 (KL ~ 1e9 nats), whose
        bubble covered the map and whose ELBO swamped the test average. The bound (3 by
        default: a few prior standard deviations) is a soft ceiling, soft_upper_bound: within
        0.6 % of the raw head's sigma for the sigma <= 0.3 of data a model has learned (0.02 %
        at a typical 0.06), smooth, monotone and never above the ceiling. No lower bound: a small sigma cannot
        stretch the map, and training drives it where the data need it.
        """
        mu, logvar = self.encoder_head(self.encoder_body(x)).chunk(2, dim=-1)
        if self.max_logvar is not None:
            logvar = soft_upper_bound(logvar, self.max_logvar)
        return mu, logvar

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I): sampling that gradients can flow through."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, k) -> (B, D): Bernoulli logits, or the Gaussian mean."""
        return self.decoder(z)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """(B, k) -> (B, D): E[x|z], the picture to show (sigmoid of logits for Bernoulli)."""
        out = self.decode(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, D) -> (decoded (B, D), mu (B, k), logvar (B, k)) with one sample of z."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    @property
    def device(self) -> torch.device:
        return self.encoder_head.weight.device

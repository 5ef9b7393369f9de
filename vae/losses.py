"""The objective: -ELBO = reconstruction NLL + beta * KL, and the IWAE estimate of log p(x).

All quantities are per example, in nats, summed over data and latent dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .device import cpu_threads, threads_for_work
from .model import VAE

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) per latent dimension, (B, k).

    Closed form (Kingma & Welling 2013, Appendix B): 1/2 (sigma^2 + mu^2 - 1 - log sigma^2).
    The three "bubble forces": mu^2 pulls each bubble to the origin, sigma^2 - log sigma^2 - 1
    (minimal at sigma = 1) keeps it near unit size; the reconstruction term pushes them apart.
    """
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar)


def reconstruction_nll(model: VAE, x: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per example, (B,), from the decoder's output for one z per example."""
    if model.config.likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(decoded, x, reduction="none").sum(-1)
    log_sigma = model.log_sigma_x  # (D,)
    z_score = (x - decoded) * torch.exp(-log_sigma)
    return (0.5 * z_score.pow(2) + log_sigma + 0.5 * LOG_2PI).sum(-1)


@dataclass
class LossTerms:
    """Per-example tensors (B,): loss = recon + beta * kl is what the optimiser minimises."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        """ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)), a lower bound on log p(x)."""
        return -(self.recon + self.kl)


def vae_loss(model: VAE, x: torch.Tensor, beta: float | torch.Tensor = 1.0) -> LossTerms:
    """One-sample Monte Carlo estimate of -ELBO (with KL weighted by beta) for a batch (B, D)."""
    decoded, mu, logvar = model(x)
    recon = reconstruction_nll(model, x, decoded)
    kl = gaussian_kl(mu, logvar).sum(-1)
    return LossTerms(loss=recon + beta * kl, recon=recon, kl=kl)


@torch.no_grad()
def iwae_log_likelihood(
    model: VAE,
    x: torch.Tensor,
    k: int = 1000,
    max_elements: int = 2**23,
    seed: int | None = None,
) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) per example, (B,) (Burda et al. 2016).

    log p(x) >= log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x). With k = 1 this is the
    ELBO; it is non-decreasing in k in expectation and tends to log p(x). Examples and samples
    are processed in chunks so that at most `max_elements` decoder outputs live at once
    (2**23: about 200 MB of activations for a 784-512-256 decoder, while each chunk's
    matrix products still have ~10k rows, enough for full CPU/GPU efficiency).
    Each example draws its noise from its own generator (seeded `seed + index`; `seed` comes
    from the global torch RNG when None), so the result does not depend on the chunking.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if x.device.type != "cpu":
        return _iwae(model, x, k, max_elements, seed)
    # Rows per decoder call x parameters: small models are faster on one CPU thread.
    rows = min(len(x) * k, max(1, max_elements // model.config.input_dim))
    parameters = sum(p.numel() for p in model.parameters())
    with cpu_threads(threads_for_work(rows * parameters)):
        return _iwae(model, x, k, max_elements, seed)


def _iwae(model: VAE, x: torch.Tensor, k: int, max_elements: int, seed: int | None) -> torch.Tensor:
    d, latent = model.config.input_dim, model.config.latent_dim
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    # Chunk over examples, then over samples, so memory is bounded whatever B and k are.
    samples_per_chunk = max(1, min(k, max_elements // d))
    examples_per_chunk = max(1, max_elements // (d * samples_per_chunk))
    generator = torch.Generator(device=x.device)
    estimates = []
    for first, x_chunk in zip(
        range(0, len(x), examples_per_chunk), x.split(examples_per_chunk), strict=True
    ):
        mu, logvar = model.encode(x_chunk)  # (b, latent)
        std = torch.exp(0.5 * logvar)
        noise = []  # per example (k, latent), from that example's own stream
        for i in range(len(x_chunk)):
            generator.manual_seed(seed + first + i)
            noise.append(
                torch.randn((k, latent), generator=generator, device=x.device, dtype=mu.dtype)
            )
        noise_all = torch.stack(noise, dim=1)  # (k, b, latent)
        log_weights = []
        for eps in noise_all.split(samples_per_chunk):  # (s, b, latent)
            s = len(eps)
            z = mu + std * eps
            decoded = model.decode(z.reshape(-1, latent))  # (s*b, D)
            x_rep = x_chunk.expand(s, *x_chunk.shape).reshape(-1, d)
            log_px_z = -reconstruction_nll(model, x_rep, decoded).view(s, -1)  # (s, b)
            log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)  # (s, b)
            log_qz_x = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(-1)  # (s, b)
            log_weights.append(log_px_z + log_pz - log_qz_x)
        log_w = torch.cat(log_weights)  # (k, b)
        estimates.append(torch.logsumexp(log_w, dim=0) - math.log(k))
    return torch.cat(estimates)

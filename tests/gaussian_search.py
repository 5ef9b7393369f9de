"""An independent search for the best diagonal Gaussian q = N(μ, diag σ²) of one x.

No gradients, no Gauss–Hermite rule, no starting point: log p(x|z) is tabulated once on a fine
uniform grid, and because a diagonal Gaussian's density is a product over the two axes,

    E_q[log p(x|z)] ≈ Σ_ij q₁(z₁_j) q₂(z₂_i) log p(x|z_ij) = (W₁ F W₂ᵀ)

scores every (μ₁, σ₁) against every (μ₂, σ₂) in one pair of matrix products. The search is
exhaustive over a box of means and a range of widths, then refined around the best few
candidates: a global optimum up to the grid steps, with which the tests check
vae.inference.optimal_gaussian.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BruteForceGaussian:
    mu: np.ndarray  # (2,)
    sigma: np.ndarray  # (2,)
    elbo: float


def _axis_weights(axis: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(len(mu) * len(sigma), len(axis)): the midpoint rule's weights of N(μ, σ²) per row."""
    m, s = np.meshgrid(mu, sigma, indexing="ij")
    m, s = m.ravel()[:, None], s.ravel()[:, None]
    w = np.exp(-0.5 * ((axis[None, :] - m) / s) ** 2)
    return w / w.sum(1, keepdims=True)


def _kl_to_prior(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    m, s = np.meshgrid(mu, sigma, indexing="ij")
    m, s = m.ravel(), s.ravel()
    return 0.5 * (s**2 + m**2 - 1.0) - np.log(s)


def _score(z1, z2, log_lik, mus, sigmas):
    """ELBO of every (μ₁, σ₁) × (μ₂, σ₂): an (A, B) table with the parameters of its axes."""
    w1 = _axis_weights(z1, mus[0], sigmas[0])  # (A, nx)
    w2 = _axis_weights(z2, mus[1], sigmas[1])  # (B, ny)
    expected = w1 @ log_lik.T @ w2.T  # log_lik is (ny, nx): rows along z2
    elbo = expected - _kl_to_prior(mus[0], sigmas[0])[:, None] - _kl_to_prior(mus[1], sigmas[1])
    params = [np.stack(np.meshgrid(mus[d], sigmas[d], indexing="ij"), -1).reshape(-1, 2)
              for d in (0, 1)]  # fmt: skip
    return elbo, params


def best_gaussian(
    z1: np.ndarray,
    z2: np.ndarray,
    log_lik: np.ndarray,
    *,
    sigma_range: tuple[float, float],
    steps: tuple[int, int] = (48, 16),
    refine_steps: tuple[int, int] = (17, 9),
    rounds: int = 5,
    keep: int = 6,
) -> BruteForceGaussian:
    """The best N(μ, diag σ²) against N(0, I) and log p(x|z) tabulated as log_lik (ny, nx) at
    z = (z1[j], z2[i]) (uniform axes). The first round scores `steps` (means, widths) per axis:
    means over the grid, kept 5σ inside it, widths over sigma_range, log-spaced; the grid must
    hold the posterior's mass and be at least 2.5 steps finer than the smallest σ searched.
    Each later round re-searches ±2 steps around each of the last round's `keep` best
    candidates with `refine_steps` points, a quarter of the steps."""
    h = min(z1[1] - z1[0], z2[1] - z2[0])
    if sigma_range[0] < 2.5 * h:
        raise ValueError("the grid is too coarse for the narrowest sigma searched")
    # A box: per axis, a range of means and a range of log σ.
    whole = [((z[0], z[-1]), tuple(np.log(sigma_range))) for z in (z1, z2)]
    boxes = [whole]
    for round_ in range(rounds):
        mean_steps, sigma_steps = steps if round_ == 0 else refine_steps
        found = []
        for box in boxes:
            mus = [np.linspace(*means, mean_steps) for means, _ in box]
            sigmas = [np.exp(np.linspace(*log_sigmas, sigma_steps)) for _, log_sigmas in box]
            elbo, params = _score(z1, z2, log_lik, mus, sigmas)
            # Gaussians reaching beyond the table would be scored on a truncated density.
            inside = [(p[:, 0] - 5 * p[:, 1] >= z[0]) & (p[:, 0] + 5 * p[:, 1] <= z[-1])
                      for p, z in zip(params, (z1, z2), strict=True)]  # fmt: skip
            elbo = np.where(inside[0][:, None] & inside[1][None, :], elbo, -np.inf)
            for flat in np.argpartition(elbo, -keep, axis=None)[-keep:]:
                a, b = np.unravel_index(flat, elbo.shape)
                steps_here = [(m[1] - m[0], np.log(s[1] / s[0])) for m, s in zip(mus, sigmas, strict=True)]  # fmt: skip
                found.append((elbo[a, b], (params[0][a], params[1][b]), steps_here))
        found.sort(key=lambda f: -f[0])
        (mu1, s1), (mu2, s2) = found[0][1]
        best = BruteForceGaussian(np.array([mu1, mu2]), np.array([s1, s2]), float(found[0][0]))
        boxes = [
            [((p[0] - 2 * dm, p[0] + 2 * dm), (np.log(p[1]) - 2 * ds, np.log(p[1]) + 2 * ds))
             for p, (dm, ds) in zip(pair, steps_here, strict=True)]
            for _, pair, steps_here in found[:keep]
        ]  # fmt: skip
    return best


def log_px_on_grid(z1: np.ndarray, z2: np.ndarray, log_lik: np.ndarray) -> float:
    """log ∫ p(x|z) p(z) dz by the midpoint rule on the same table."""
    zy, zx = np.meshgrid(z2, z1, indexing="ij")
    log_joint = log_lik - 0.5 * (zx**2 + zy**2) - np.log(2 * np.pi)
    cell = (z1[1] - z1[0]) * (z2[1] - z2[0])
    peak = log_joint.max()
    return float(peak + np.log(np.exp(log_joint - peak).sum() * cell))

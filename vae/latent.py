"""Operations in latent space: encode a dataset, decode points, paths, grids and quality measures."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from .losses import gaussian_kl, reconstruction_nll
from .model import VAE

PathMode = Literal["linear", "spherical"]
GridSpacing = Literal["linear", "quantile"]


@torch.no_grad()
def encode_dataset(
    model: VAE, x: np.ndarray, batch_size: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """x (N, D) -> posterior means mu (N, k) and standard deviations sigma (N, k), float32."""
    mus, sigmas = [], []
    for batch in torch.as_tensor(np.asarray(x, dtype=np.float32)).split(batch_size):
        mu, logvar = model.encode(batch.to(model.device))
        mus.append(mu.float().cpu())
        sigmas.append(torch.exp(0.5 * logvar).float().cpu())
    return torch.cat(mus).numpy(), torch.cat(sigmas).numpy()


@torch.no_grad()
def decode_latents(model: VAE, z: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """z (M, k) -> E[x|z] (M, D) as float32 numpy: the pictures to show."""
    z_t = torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(-1, model.config.latent_dim)
    return torch.cat(
        [model.decode_mean(b.to(model.device)).float().cpu() for b in z_t.split(batch_size)]
    ).numpy()


@torch.no_grad()
def reconstruction_nll_at_mean(model: VAE, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """-log p(x|z=mu(x)) in nats per example, (N,): the model's own likelihood of x, decoded
    from its posterior mean. The training loss's reconstruction term at z = mu, not z ~ q."""
    nlls = []
    for batch in torch.as_tensor(np.asarray(x, dtype=np.float32)).split(batch_size):
        batch = batch.to(model.device)
        mu, _ = model.encode(batch)
        nlls.append(reconstruction_nll(model, batch, model.decode(mu)).float().cpu())
    return torch.cat(nlls).numpy()


def kl_per_example(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """KL(q(z|x) || N(0, I)) per example, (N,): how far each bubble is from the prior."""
    logvar = 2 * np.log(np.maximum(sigma, 1e-12))
    return gaussian_kl(torch.as_tensor(mu), torch.as_tensor(logvar)).sum(-1).numpy()


def knn_accuracy(
    train_mu: np.ndarray, train_y: np.ndarray, test_mu: np.ndarray, test_y: np.ndarray, k: int = 5
) -> float:
    """Accuracy of a k-NN classifier fit on train means and scored on test means."""
    from sklearn.neighbors import KNeighborsClassifier  # imported here: ~1/3 of the app's start

    classifier = KNeighborsClassifier(n_neighbors=k).fit(train_mu, train_y)
    return float(classifier.score(test_mu, test_y))


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation (Shoemake 1985; White 2016 for latent spaces), (T, k).

    Follows the great circle between the directions of a and b while interpolating their
    norms linearly, so the path keeps to the typical shell of a Gaussian prior.
    """
    t = np.asarray(t, dtype=np.float64)[:, None]
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a < 1e-12 or norm_b < 1e-12:
        return (1 - t) * a + t * b
    unit_a, unit_b = a / norm_a, b / norm_b
    omega = np.arccos(np.clip(unit_a @ unit_b, -1.0, 1.0))
    if omega < 1e-6:  # parallel: the great circle degenerates to a line
        return (1 - t) * a + t * b
    direction = (np.sin((1 - t) * omega) * unit_a + np.sin(t * omega) * unit_b) / np.sin(omega)
    return direction * ((1 - t) * norm_a + t * norm_b)


def interpolation_path(
    waypoints: np.ndarray, n_points: int, mode: PathMode = "linear"
) -> np.ndarray:
    """n_points along a path through waypoints (W, k), spaced uniformly by arc length, (n, k).

    Each leg is traced densely (straight or spherical), then resampled so that equal steps of
    a slider move equal distances in latent space whatever the legs' lengths.
    """
    waypoints = np.asarray(waypoints, dtype=np.float64)
    if waypoints.ndim != 2 or len(waypoints) < 2:
        raise ValueError("a path needs at least two waypoints, as an array (W, k)")
    if n_points < 2:
        raise ValueError("a path needs at least two points")
    t = np.linspace(0.0, 1.0, 256)
    legs = []
    for a, b in zip(waypoints[:-1], waypoints[1:], strict=False):
        leg = slerp(a, b, t) if mode == "spherical" else (1 - t[:, None]) * a + t[:, None] * b
        legs.append(leg if not legs else leg[1:])
    dense = np.concatenate(legs)  # (M, k)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    if arc[-1] < 1e-12:
        return np.repeat(waypoints[:1], n_points, axis=0)
    targets = np.linspace(0.0, arc[-1], n_points)
    return np.stack([np.interp(targets, arc, dense[:, d]) for d in range(dense.shape[1])], 1)


def latent_grid(
    n: int,
    x_range: tuple[float, float] = (-3.0, 3.0),
    y_range: tuple[float, float] = (-3.0, 3.0),
    spacing: GridSpacing = "linear",
) -> tuple[np.ndarray, np.ndarray]:
    """Axis values (xs (n,), ys (n,)) of an n x n latent grid.

    "quantile" spaces the points by equal prior probability: z = Phi^-1(p) for p evenly
    spaced in (0, 1) (Kingma & Welling 2013, Fig. 4); the ranges are then ignored.
    """
    if spacing == "quantile":
        p = np.linspace(0.0, 1.0, n + 2)[1:-1]  # open interval: Phi^-1(0) is -inf
        from scipy.stats import norm  # imported here: scipy.stats takes seconds to import

        values = norm.ppf(p)
        return values, values
    return np.linspace(*x_range, n), np.linspace(*y_range, n)


def decode_grid(model: VAE, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Decode every (x, y) of the grid: (len(ys), len(xs), D), row 0 at ys[0]."""
    zx, zy = np.meshgrid(xs, ys)  # (ny, nx) each
    z = np.stack([zx.ravel(), zy.ravel()], axis=1)
    return decode_latents(model, z).reshape(len(ys), len(xs), -1)

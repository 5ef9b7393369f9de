"""The aggregate posterior q(z) = (1/N) sum_i N(z; mu_i, diag sigma_i^2) on a grid, and its holes.

Where q(z) is low but the prior p(z) = N(0, I) is not, samples z ~ p(z) land in regions the
decoder never saw during training: those "holes" are where generated samples look poor.
On a grid the mixture is one matrix product of 1-D Gaussian factors (grid_mixture_density); at
arbitrary points, a chunked log-space sum (mixture_log_density) serves as its reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

LOG_2PI = math.log(2 * math.pi)
SQRT_2PI = math.sqrt(2 * math.pi)
LOG_FLOOR = -700.0  # log q where q underflows float64: "no mass here"
MAX_COMPONENTS = 10_000  # beyond this the mixture is estimated from a random subsample
CHUNK_ELEMENTS = 2**23  # points x components at once in mixture_log_density (64 MB)


@dataclass(frozen=True)
class DensityGrid:
    """log q(z) and log p(z) on an (ny, nx) grid; row 0 is at ys[0] (the bottom)."""

    xs: np.ndarray  # (nx,)
    ys: np.ndarray  # (ny,)
    log_q: np.ndarray  # (ny, nx) log aggregate posterior
    log_p: np.ndarray  # (ny, nx) log prior N(0, I)
    n_components: int  # components used (after subsampling)
    n_total: int  # components available

    @property
    def subsampled(self) -> bool:
        return self.n_components < self.n_total

    @property
    def cell_area(self) -> float:
        return float((self.xs[1] - self.xs[0]) * (self.ys[1] - self.ys[0]))

    def mass(self, log_density: np.ndarray) -> float:
        """Riemann sum of exp(log_density) over the grid: ~1 when the grid covers the mass."""
        return float(np.exp(log_density.astype(np.float64)).sum() * self.cell_area)

    def kl_q_to_p(self) -> float:
        """KL(q(z) || p(z)) in nats by quadrature on the grid (Hoffman & Johnson 2016).

        The mean per-example KL splits into this "marginal KL" plus the mutual information
        I(x; z) between data and code: the part of the KL that buys information.
        """
        q = np.exp(self.log_q.astype(np.float64))
        return float((q * (self.log_q - self.log_p)).sum() * self.cell_area)


@dataclass(frozen=True)
class Hole:
    """One connected region of the grid where q(z) / p(z) falls below the threshold."""

    center: tuple[float, float]  # centroid in latent coordinates
    area: float  # in latent units^2
    prior_mass: float  # P_{z ~ p}(z in this hole): the share of prior samples that land here


def log_prior(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) for z (..., 2) -> (...)."""
    z = np.asarray(z, dtype=np.float64)
    return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI


def subsample_components(
    mu: np.ndarray, sigma: np.ndarray, max_components: int = MAX_COMPONENTS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_components` rows of (mu, sigma), drawn without replacement (fixed seed).

    A uniform subsample of the mixture is an unbiased estimate of q(z) at every z.
    """
    if len(mu) <= max_components:
        return mu, sigma
    keep = np.random.default_rng(seed).choice(len(mu), size=max_components, replace=False)
    keep.sort()
    return mu[keep], sigma[keep]


@torch.no_grad()
def mixture_log_density(
    z: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    chunk_elements: int = CHUNK_ELEMENTS,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """log (1/N) sum_i N(z; mu_i, diag sigma_i^2) at each z (M, k) -> (M,), float64.

    The exponent of every component is a quadratic in z, so all M x N of them come from one
    matrix product: -1/2 sum_d a_d (z_d - mu_d)^2 = [z^2, z, 1] @ [-a/2, a mu, -1/2 sum a mu^2]
    with a = 1/sigma^2 (6x faster than broadcasting the differences, measured). Components are
    processed in chunks with a running logaddexp, so memory is M x chunk, not M x N.
    `progress(fraction)` is called after each chunk.
    """
    z_t = torch.as_tensor(np.asarray(z, dtype=np.float64))  # (M, k)
    mu_t = torch.as_tensor(np.asarray(mu, dtype=np.float64))  # (N, k)
    sigma_t = torch.as_tensor(np.asarray(sigma, dtype=np.float64)).clamp_min(1e-6)
    if mu_t.ndim != 2 or z_t.ndim != 2 or mu_t.shape[1] != z_t.shape[1]:
        raise ValueError(f"z {tuple(z_t.shape)} and mu {tuple(mu_t.shape)} must be (M, k), (N, k)")
    if len(mu_t) == 0:
        raise ValueError("the mixture needs at least one component")
    if mu_t.shape != sigma_t.shape:
        raise ValueError(f"mu {tuple(mu_t.shape)} and sigma {tuple(sigma_t.shape)} differ")
    k = z_t.shape[1]
    a = sigma_t.pow(-2)  # (N, k) precisions
    # Float64 throughout: with small sigma the three terms are large and nearly cancel.
    features = torch.cat(
        [z_t.pow(2), z_t, torch.ones(len(z_t), 1, dtype=z_t.dtype)], 1
    )  # (M, 2k+1)
    constant = -0.5 * (mu_t.pow(2) * a).sum(1) - torch.log(sigma_t).sum(1) - 0.5 * k * LOG_2PI
    weights = torch.cat([(-0.5 * a).T, (mu_t * a).T, constant[None]], 0)  # (2k+1, N)
    chunk = max(1, chunk_elements // max(1, len(z_t)))
    total = torch.full((len(z_t),), -math.inf, dtype=torch.float64)
    for start in range(0, len(mu_t), chunk):
        log_comp = features @ weights[:, start : start + chunk]  # (M, c)
        total = torch.logaddexp(total, torch.logsumexp(log_comp, dim=1))
        if progress is not None:
            progress(min(1.0, (start + chunk) / len(mu_t)))
    return (total - math.log(len(mu_t))).numpy()


@torch.no_grad()
def grid_mixture_density(
    xs: np.ndarray,
    ys: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    chunk: int = 4096,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """q(z) = (1/N) sum_i N(z; mu_i, diag sigma_i^2) on the grid ys x xs -> (ny, nx), float64.

    A diagonal Gaussian factorises, N(z; mu, s) = N(z1; mu1, s1) N(z2; mu2, s2), so on a grid
    the whole mixture is one matrix product: q = A^T B / N with A (N, ny), B (N, nx) the 1-D
    factors. That is N (nx + ny) exponentials instead of N nx ny: 200 x 200 x 10k components in
    well under a second. Float64 keeps tails down to ~1e-300; below that q is exactly 0.
    """
    mu_t = torch.as_tensor(np.asarray(mu, dtype=np.float64))  # (N, 2)
    sigma_t = torch.as_tensor(np.asarray(sigma, dtype=np.float64)).clamp_min(1e-6)
    if mu_t.ndim != 2 or mu_t.shape[1] != 2 or mu_t.shape != sigma_t.shape:
        raise ValueError(
            f"mu and sigma must both be (N, 2), got {tuple(mu_t.shape)}, {tuple(sigma_t.shape)}"
        )
    if len(mu_t) == 0:
        raise ValueError("the mixture needs at least one component")
    xs_t = torch.as_tensor(np.asarray(xs, dtype=np.float64))
    ys_t = torch.as_tensor(np.asarray(ys, dtype=np.float64))
    density = torch.zeros(len(ys_t), len(xs_t), dtype=torch.float64)
    for start in range(0, len(mu_t), chunk):
        m, s = mu_t[start : start + chunk], sigma_t[start : start + chunk]  # (c, 2)
        a = torch.exp(-0.5 * ((ys_t[None] - m[:, 1:2]) / s[:, 1:2]).pow(2)) / (s[:, 1:2] * SQRT_2PI)
        b = torch.exp(-0.5 * ((xs_t[None] - m[:, 0:1]) / s[:, 0:1]).pow(2)) / (s[:, 0:1] * SQRT_2PI)
        density += a.T @ b  # (ny, c) @ (c, nx)
        if progress is not None:
            progress(min(1.0, (start + chunk) / len(mu_t)))
    return (density / len(mu_t)).numpy()


def aggregate_density(
    mu: np.ndarray,
    sigma: np.ndarray,
    x_range: tuple[float, float] = (-4.0, 4.0),
    y_range: tuple[float, float] = (-4.0, 4.0),
    resolution: int = 200,
    max_components: int = MAX_COMPONENTS,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> DensityGrid:
    """log q(z) and log p(z) on a resolution x resolution grid over x_range x y_range.

    Where q underflows (further than ~38 sigma from every component) log q is set to
    LOG_FLOOR, far below anything a picture or a hole threshold distinguishes.
    """
    mu = np.asarray(mu, dtype=np.float64).reshape(len(mu), -1)
    sigma = np.asarray(sigma, dtype=np.float64).reshape(len(sigma), -1)
    if mu.shape[1] != 2:
        raise ValueError(
            f"the density is drawn on the latent plane: k must be 2, got {mu.shape[1]}"
        )
    if resolution < 2:
        raise ValueError("the grid needs at least 2 points per side")
    used_mu, used_sigma = subsample_components(mu, sigma, max_components, seed)
    xs = np.linspace(*x_range, resolution)
    ys = np.linspace(*y_range, resolution)
    q = grid_mixture_density(xs, ys, used_mu, used_sigma, progress=progress)
    with np.errstate(divide="ignore"):
        log_q = np.maximum(np.log(q), LOG_FLOOR)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx)
    return DensityGrid(
        xs=xs,
        ys=ys,
        log_q=log_q,
        log_p=log_prior(np.stack([gx, gy], -1)),
        n_components=len(used_mu),
        n_total=len(mu),
    )


def hole_mask(grid: DensityGrid, ratio: float = 0.1, prior_radius: float = 2.0) -> np.ndarray:
    """(ny, nx) bool: inside the prior's bulk (|z| <= prior_radius) and q(z) < ratio * p(z)."""
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    inside = gx**2 + gy**2 <= prior_radius**2
    return inside & (grid.log_q < grid.log_p + math.log(ratio))


def find_holes(
    grid: DensityGrid, ratio: float = 0.1, prior_radius: float = 2.0, min_cells: int = 4
) -> list[Hole]:
    """Connected hole regions (8-connectivity), largest prior mass first.

    Regions smaller than `min_cells` grid cells are ignored: they are quadrature noise.
    """
    mask = hole_mask(grid, ratio, prior_radius)
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=int))
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    p = np.exp(grid.log_p)
    holes = []
    for label in range(1, count + 1):
        cells = labels == label
        n_cells = int(cells.sum())
        if n_cells < min_cells:
            continue
        weights = p[cells]
        holes.append(
            Hole(
                center=(
                    float(np.average(gx[cells], weights=weights)),
                    float(np.average(gy[cells], weights=weights)),
                ),
                area=n_cells * grid.cell_area,
                prior_mass=float(weights.sum() * grid.cell_area),
            )
        )
    return sorted(holes, key=lambda h: -h.prior_mass)


@dataclass(frozen=True)
class KLForces:
    """Per-dimension means over the data of the pieces of KL(q(z|x) || N(0, I)), each (k,).

    KL_d = 1/2 mu_d^2 + 1/2 (sigma_d^2 - 1 - log sigma_d^2) (Kingma & Welling, Appendix B):
    the first term pulls every bubble towards the origin, the second holds its size near 1;
    the reconstruction term, pushing bubbles apart and shrinking them, is the third force.
    """

    pull_to_origin: np.ndarray  # mean 1/2 mu^2
    unit_size: np.ndarray  # mean 1/2 (sigma^2 - 1 - log sigma^2)
    total: np.ndarray  # their sum: the mean KL per dimension
    active: np.ndarray  # bool: Var_x(mu_d) > threshold (Burda et al. 2016)
    mu_variance: np.ndarray  # Var_x(mu_d)


def kl_forces(mu: np.ndarray, sigma: np.ndarray, active_threshold: float = 0.01) -> KLForces:
    """Split the mean KL of each latent dimension into its two bubble forces."""
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.maximum(np.asarray(sigma, dtype=np.float64), 1e-12)
    pull = 0.5 * (mu**2).mean(0)
    size = 0.5 * (sigma**2 - 1.0 - np.log(sigma**2)).mean(0)
    variance = mu.var(0)
    return KLForces(
        pull_to_origin=pull,
        unit_size=size,
        total=pull + size,
        active=variance > active_threshold,
        mu_variance=variance,
    )


__all__ = [
    "DensityGrid",
    "Hole",
    "KLForces",
    "aggregate_density",
    "find_holes",
    "grid_mixture_density",
    "hole_mask",
    "kl_forces",
    "log_prior",
    "mixture_log_density",
    "subsample_components",
]

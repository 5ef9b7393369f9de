"""Exact inference in a 2-D latent space: log p(x) and p(z|x) by quadrature, q*(z|x), the gaps.

With two latent dimensions the "intractable" p(x) = ∫ p(x|z) p(z) dz is a 2-D integral that a
grid computes to any accuracy, so the quantities the ELBO only bounds can be shown exactly:

    log p(x) = ELBO(q) + KL(q(z|x) ‖ p(z|x))                        for any q,
    approximation gap = log p(x) − ELBO(q*),   q* the best Gaussian for this x (the E-step),
    amortisation gap  = ELBO(q*) − ELBO(q_encoder)          (Cremer, Li & Duvenaud 2018).

How the quadrature's error is controlled (see `exact_log_likelihood`):
1. A coarse pass over the whole square [−R, R]² (cells of `plane_spacing`) finds where each
   example's joint p(x, z) has its mass. For a Bernoulli decoder log p(x|z) = x·ℓ(z) −
   Σ softplus(ℓ(z)) is linear in x, and a Gaussian one is a quadratic form, so one decode of
   the shared grid and one matrix product score every example at every cell.
2. The box holding every coarse cell within `threshold` nats of the example's best cell, and
   the encoder's μ ± 6σ, is integrated again on a fine m × m midpoint grid. The integrand has
   fallen by `threshold` nats at the box's edges, so the rectangle rule converges
   spectrally; its error is estimated by comparing it with the two interleaved grids of twice
   the spacing, and m is doubled until that estimate is below `tol` (or m reaches `max_fine`).
3. Cells outside the box are still added at the coarse resolution, and their whole share is
   counted as error (log(1 + outside/inside)).
4. Beyond the square, p(z) < exp(−R²/2): that mass could matter only if the decoder fitted x
   better by more than R²/2 nats out there than anywhere inside. No finite grid rules this
   out for an arbitrary network; R = 8 (32 nats) is the default.
A posterior narrower than a coarse cell is still found: its best coarse cell beats every
distant one, and the encoder's own box is always refined.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .losses import LOG_2PI, gaussian_kl
from .model import VAE

START_SIZES = (24, 32)  # first fine grids (points per side) beyond `fine`
LOG_MIN, LOG_MAX = -30.0, 10.0  # log sigma^2 of q*: keeps exp() finite during the search


def _check_model(model: VAE) -> None:
    if model.config.latent_dim != 2:
        raise ValueError(
            f"exact inference integrates over a 2-D latent plane; this model has "
            f"{model.config.latent_dim} latent dimensions"
        )


def _as_tensor(model: VAE, x) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32) if not torch.is_tensor(x) else x)
    return t.reshape(-1, model.config.input_dim).float().to(model.device)


def _log_prior(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) for z (..., 2)."""
    return -0.5 * z.pow(2).sum(-1) - LOG_2PI


def _log_px_given_z(model: VAE, x: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
    """log p(x|z) for x (B, D) and decoder outputs (B, G, D): (B, G)."""
    x = x.unsqueeze(1)
    if model.config.likelihood == "bernoulli":
        return (x * decoded - F.softplus(decoded)).sum(-1)
    log_sigma = model.log_sigma_x
    z_score = (x - decoded) * torch.exp(-log_sigma)
    return -(0.5 * z_score.pow(2) + log_sigma + 0.5 * LOG_2PI).sum(-1)


# --- The coarse plane: decoded once per model, shared by every example --------------------


@dataclass(frozen=True)
class LatentPlane:
    """Cell centres of a square grid and the decoder's output there, as coefficients in x.

    log p(x|z_g) = x · linear[g] + (x²) · quadratic + constant[g]. Bernoulli: linear = logits,
    constant = −Σ softplus(logits), no quadratic term. Gaussian (mean m, sigma s per dim):
    linear = m/s², quadratic = −1/(2s²), constant = −Σ (m²/(2s²) + log s + ½ log 2π).
    """

    axis: torch.Tensor  # (n,) cell centres along each latent dimension
    spacing: float
    extent: float  # the square is [−extent, extent]²
    z: torch.Tensor  # (G, 2), G = n², row-major: z[i*n + j] = (axis[j], axis[i])
    linear: torch.Tensor  # (G, D)
    quadratic: torch.Tensor | None  # (D,)
    constant: torch.Tensor  # (G,)

    def log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x, z_g) for x (B, D): (B, G), one matrix product."""
        out = x @ self.linear.T + self.constant + _log_prior(self.z)
        if self.quadratic is not None:
            out = out + (x * x) @ self.quadratic[:, None]
        return out


@torch.no_grad()
def decode_plane(
    model: VAE, extent: float = 8.0, spacing: float = 0.125, batch_size: int = 8192
) -> LatentPlane:
    """Decode the square [−extent, extent]² at cell centres `spacing` apart (once per model)."""
    _check_model(model)
    n = max(2, round(2 * extent / spacing))
    spacing = 2 * extent / n
    axis = -extent + spacing * (torch.arange(n, dtype=torch.float32) + 0.5)
    zy, zx = torch.meshgrid(axis, axis, indexing="ij")
    z = torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1).to(model.device)
    decoded = torch.cat([model.decode(b) for b in z.split(batch_size)]).float()  # (G, D)
    if model.config.likelihood == "bernoulli":
        return LatentPlane(axis, spacing, extent, z, decoded, None, -F.softplus(decoded).sum(-1))
    log_sigma = model.log_sigma_x.float()
    inv_var = torch.exp(-2 * log_sigma)
    constant = -(0.5 * decoded.pow(2) * inv_var + log_sigma + 0.5 * LOG_2PI).sum(-1)
    return LatentPlane(axis, spacing, extent, z, decoded * inv_var, -0.5 * inv_var, constant)


# --- log p(x) by quadrature ---------------------------------------------------------------


@dataclass(frozen=True)
class ExactLogLikelihood:
    """Per-example log p(x) in nats, (N,) arrays, with the quadrature's error estimate."""

    log_px: np.ndarray
    error: np.ndarray  # resolution + outside-the-box estimate, nats (see the module docstring)
    box: np.ndarray  # (N, 4): x0, x1, y0, y1 of the finely integrated box
    fine_points: np.ndarray  # (N,) m, the fine grid's points per side that met `tol`
    posterior: PosteriorSummary  # p(z|x) as the final fine grid saw it

    @property
    def mean(self) -> float:
        return float(self.log_px.mean())


@dataclass(frozen=True)
class PosteriorSummary:
    """Per-example p(z|x) read off a fine grid: its moments and up to K local modes, each with
    the widths of the parabola through it and its neighbours (its Laplace approximation).

    Modes are padded with NaN (height −inf) where an example has fewer than K; the highest
    comes first. Heights are log p(z|x) at the mode minus that at the highest mode.
    """

    mean: np.ndarray  # (N, 2)
    variance: np.ndarray  # (N, 2)
    modes: np.ndarray  # (N, K, 2)
    mode_variance: np.ndarray  # (N, K, 2)
    mode_height: np.ndarray  # (N, K), 0 for the highest, −inf for padding

    @property
    def mode_count(self) -> np.ndarray:
        return np.isfinite(self.mode_height).sum(1)


SUMMARY_FIELDS = ("mean", "variance", "modes", "mode_variance", "mode_height")


def _grid_summary(log_f: torch.Tensor, edges: torch.Tensor, max_modes: int, floor: float):
    """Moments and local modes of p(z|x) from log p(x, z) (b, m, m) on the midpoint grids over
    edges (b, 4) (rows along z2): tensors in PosteriorSummary's order.

    A mode is a point at least as high as its 8 neighbours and within `floor` nats of the
    highest. Its centre and widths come from the parabola through it and its two neighbours
    on each axis: exact for a Gaussian posterior, even one narrower than the grid's step.
    """
    b, m = len(log_f), log_f.shape[-1]
    step = torch.stack([edges[:, 1] - edges[:, 0], edges[:, 3] - edges[:, 2]], 1) / m  # (b, 2)
    steps = torch.arange(m, device=log_f.device, dtype=log_f.dtype) + 0.5
    gx = edges[:, 0:1] + step[:, 0:1] * steps  # (b, m)
    gy = edges[:, 2:3] + step[:, 1:2] * steps
    weights = torch.softmax(log_f.flatten(1), 1).view(b, m, m)
    px, py = weights.sum(1), weights.sum(2)  # marginals along z1 (columns) and z2 (rows)
    mean = torch.stack([(px * gx).sum(1), (py * gy).sum(1)], 1)
    variance = torch.stack(
        [(px * (gx - mean[:, :1]).pow(2)).sum(1), (py * (gy - mean[:, 1:]).pow(2)).sum(1)], 1
    )
    pooled = F.max_pool2d(log_f[:, None], 3, stride=1, padding=1)[:, 0]
    top = log_f.flatten(1).max(1).values
    peak = (log_f >= pooled) & (log_f >= top[:, None, None] - floor)
    k = min(max_modes, m * m)
    heights, cells = log_f.masked_fill(~peak, -math.inf).flatten(1).topk(k, dim=1)
    rows, cols = cells // m, cells % m
    batch = torch.arange(b, device=log_f.device)[:, None].expand_as(cells)

    def at(di: int, dj: int) -> torch.Tensor:
        return log_f[batch, (rows + di).clamp(0, m - 1), (cols + dj).clamp(0, m - 1)]

    centre, widths = [], []
    for axis, (minus, plus), index, grid in (
        (0, (at(0, -1), at(0, 1)), cols, gx),
        (1, (at(-1, 0), at(1, 0)), rows, gy),
    ):
        curvature = (2 * heights - minus - plus).clamp(min=1e-6)  # −f''·h², > 0 at a peak
        offset = (0.5 * (plus - minus) / curvature).clamp(-0.5, 0.5)
        h = step[:, axis : axis + 1]
        centre.append(grid.gather(1, index) + offset * h)
        widths.append(h.pow(2) / curvature)  # σ² = −1/f''
    found = torch.isfinite(heights)
    modes = torch.stack(centre, -1).masked_fill(~found[..., None], math.nan)
    mode_variance = torch.stack(widths, -1).masked_fill(~found[..., None], math.nan)
    if k < max_modes:
        pad = (0, 0, 0, max_modes - k)
        modes, mode_variance = (F.pad(t, pad, value=math.nan) for t in (modes, mode_variance))
        heights = F.pad(heights, (0, max_modes - k), value=-math.inf)
    return mean, variance, modes, mode_variance, heights - top[:, None]


def _mass_boxes(
    plane: LatentPlane,
    log_joint: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    threshold: float,
) -> torch.Tensor:
    """(B, 4) boxes in cell indices [j0, j1, i0, i1) (x then y): the mass, padded by a cell."""
    n = len(plane.axis)
    keep = log_joint >= log_joint.max(1, keepdim=True).values - threshold  # (B, G)
    keep = keep.view(-1, n, n)  # (B, rows=y, cols=x)
    cols, rows = keep.any(1), keep.any(2)  # (B, n) each
    idx = torch.arange(n, device=log_joint.device)
    big = torch.full_like(cols, n, dtype=torch.long)
    j0 = torch.where(cols, idx, big).min(1).values
    j1 = torch.where(cols, idx, -1).max(1).values + 1
    i0 = torch.where(rows, idx, big).min(1).values
    i1 = torch.where(rows, idx, -1).max(1).values + 1
    # The encoder's own region is always included: it is where the ELBO looks.
    reach = 6 * torch.exp(0.5 * logvar)
    lo = torch.floor((mu - reach + plane.extent) / plane.spacing).long()
    hi = torch.ceil((mu + reach + plane.extent) / plane.spacing).long()
    j0, i0 = torch.minimum(j0, lo[:, 0]), torch.minimum(i0, lo[:, 1])
    j1, i1 = torch.maximum(j1, hi[:, 0]), torch.maximum(i1, hi[:, 1])
    box = torch.stack([j0 - 1, j1 + 1, i0 - 1, i1 + 1], dim=1)
    return box.clamp(0, n)


def _outside_log_mass(plane: LatentPlane, log_joint: torch.Tensor, box: torch.Tensor):
    """log Σ over coarse cells outside each box of p(x, z) × cell area: (B,)."""
    n = len(plane.axis)
    idx = torch.arange(n, device=log_joint.device)
    in_x = (idx >= box[:, 0:1]) & (idx < box[:, 1:2])  # (B, n)
    in_y = (idx >= box[:, 2:3]) & (idx < box[:, 3:4])
    inside = (in_y[:, :, None] & in_x[:, None, :]).view(len(box), -1)
    masked = log_joint.masked_fill(inside, -math.inf)
    return torch.logsumexp(masked, 1) + 2 * math.log(plane.spacing)


PASS_FIELDS = ("inside", "error", "zoom", "dropped", *SUMMARY_FIELDS)


def _fine_pass(
    model: VAE,
    x: torch.Tensor,
    edges: torch.Tensor,
    m: int,
    threshold: float,
    max_elements: int,
    max_modes: int,
    mode_floor: float,
) -> dict[str, torch.Tensor]:
    """Midpoint rule on an m × m grid over each box (edges (B, 4) in z).

    Returns, under PASS_FIELDS' names: log I (B,), its error estimate (B,), the tighter box
    (B, 4) holding the fine cells within `threshold` nats of the best (padded by two cells),
    the log mass outside it, and the posterior's summary on this grid (_grid_summary).
    """
    steps = (torch.arange(m, device=x.device, dtype=torch.float32) + 0.5) / m  # (m,)
    per_batch = max(1, max_elements // (m * m * model.config.input_dim))
    results = []
    for xb, eb in zip(x.split(per_batch), edges.split(per_batch), strict=True):
        gx = eb[:, 0:1] + (eb[:, 1:2] - eb[:, 0:1]) * steps  # (b, m)
        gy = eb[:, 2:3] + (eb[:, 3:4] - eb[:, 2:3]) * steps
        z = torch.stack(
            [gx[:, None, :].expand(-1, m, m), gy[:, :, None].expand(-1, m, m)], dim=-1
        ).reshape(len(xb), m * m, 2)  # (b, m*m, 2), rows along y
        decoded = model.decode(z.reshape(-1, 2)).float().view(len(xb), m * m, -1)
        log_f = (_log_px_given_z(model, xb, decoded) + _log_prior(z)).view(-1, m, m)
        cell = ((eb[:, 1] - eb[:, 0]) * (eb[:, 3] - eb[:, 2]) / (m * m)).log()  # (b,)
        fine = torch.logsumexp(log_f.flatten(1), 1) + cell
        # The two interleaved grids of twice the spacing (even and odd points): a spectrally
        # convergent rule's error at h is far below the gap between h and 2h.
        half = [
            torch.logsumexp(log_f[:, s::2, s::2].flatten(1), 1) + cell + math.log(4) for s in (0, 1)
        ]
        err = torch.maximum((half[0] - fine).abs(), (half[1] - fine).abs())
        # Where the mass sits inside the box, for zooming in when the box is far too wide.
        keep = log_f >= log_f.flatten(1).max(1).values[:, None, None] - threshold  # (b, m, m)
        idx = torch.arange(m, device=x.device)
        cols, rows = keep.any(1), keep.any(2)
        j0 = torch.where(cols, idx, m).min(1).values - 2
        j1 = torch.where(cols, idx, -1).max(1).values + 3
        i0 = torch.where(rows, idx, m).min(1).values - 2
        i1 = torch.where(rows, idx, -1).max(1).values + 3
        cells = torch.stack([j0, j1, i0, i1], 1).clamp(0, m).float() / m  # (b, 4) in [0, 1]
        width = torch.stack([eb[:, 1] - eb[:, 0], eb[:, 3] - eb[:, 2]], 1)  # (b, 2)
        zoom = torch.stack(
            [
                eb[:, 0] + cells[:, 0] * width[:, 0],
                eb[:, 0] + cells[:, 1] * width[:, 0],
                eb[:, 2] + cells[:, 2] * width[:, 1],
                eb[:, 2] + cells[:, 3] * width[:, 1],
            ],
            1,
        )
        in_x = (idx >= j0[:, None]) & (idx < j1[:, None])
        in_y = (idx >= i0[:, None]) & (idx < i1[:, None])
        inside = in_y[:, :, None] & in_x[:, None, :]
        dropped = torch.logsumexp(log_f.masked_fill(inside, -math.inf).flatten(1), 1) + cell
        summary = _grid_summary(log_f, eb, max_modes, mode_floor)
        results.append((fine, err, zoom, dropped, *summary))
    columns = zip(*results, strict=True)
    return {name: torch.cat(parts) for name, parts in zip(PASS_FIELDS, columns, strict=True)}


@torch.no_grad()
def exact_log_likelihood(
    model: VAE,
    x,
    *,
    plane: LatentPlane | None = None,
    fine: int = 16,
    max_fine: int = 256,
    tol: float = 0.01,
    threshold: float = 25.0,
    chunk: int = 256,
    max_elements: int = 2**23,
    max_modes: int = 4,
    mode_floor: float = 12.0,
    progress: Callable[[int, int], None] | None = None,
) -> ExactLogLikelihood:
    """log p(x) per example by quadrature over the latent plane (see the module docstring).

    x: (N, D) tensor or array. `plane` is the coarse decoded grid (decode_plane); pass one to
    reuse it across calls. `progress(done, total)` is called after each chunk of examples.
    Memory is bounded by `chunk` examples × the plane's cells and `max_elements` decoder outputs.
    Where the error estimate exceeds `tol`, a box much wider than its mass (say, a poor
    encoder's wide q) is first narrowed to the mass, else the grid is doubled, up to max_fine.
    The final grid also gives each posterior's moments and its modes within `mode_floor` nats
    of the highest (at most `max_modes`), where the search for q* starts (optimal_gaussian).
    """
    _check_model(model)
    x = _as_tensor(model, x)
    plane = plane if plane is not None else decode_plane(model)
    log_px, error, boxes, points, summaries = [], [], [], [], []

    def fine_pass(rows: torch.Tensor, size: int) -> None:
        part = _fine_pass(
            model, xb[rows], edges[rows], size, threshold, max_elements, max_modes, mode_floor
        )
        for name, value in part.items():
            if name not in found:
                found[name] = value.new_empty((len(xb), *value.shape[1:]))
            found[name][rows] = value

    for start in range(0, len(x), chunk):
        xb = x[start : start + chunk]
        mu, logvar = model.encode(xb)
        coarse = plane.log_joint(xb)  # (b, G)
        box = _mass_boxes(plane, coarse, mu.float(), logvar.float(), threshold)
        outside = _outside_log_mass(plane, coarse, box)
        edges = -plane.extent + plane.spacing * box.float()  # (b, 4) in z
        # First grid: about one point per encoder sigma across the box (the posterior is
        # usually about as wide as q), which the 2h-versus-h check then confirms or refines.
        width = torch.maximum(edges[:, 1] - edges[:, 0], edges[:, 3] - edges[:, 2])
        wanted = width / torch.exp(0.5 * logvar.float()).min(1).values
        m = torch.full((len(xb),), fine, device=x.device)
        for size in START_SIZES:
            m = torch.where((wanted > m) & (m < size) & (size <= max_fine), size, m)
        found: dict[str, torch.Tensor] = {}
        for size in m.unique().tolist():
            fine_pass((m == size).nonzero().flatten(), size)
        for _ in range(12):  # each round halves a box or doubles a grid: a few rounds at most
            err, zoom, dropped = found["error"], found["zoom"], found["dropped"]
            todo = (err > tol) & (m < max_fine)
            if not todo.any():
                break
            old_w = torch.stack([edges[:, 1] - edges[:, 0], edges[:, 3] - edges[:, 2]], 1)
            new_w = torch.stack([zoom[:, 1] - zoom[:, 0], zoom[:, 3] - zoom[:, 2]], 1)
            narrow = todo & (new_w < 0.5 * old_w).any(1)
            # The cells left out by zooming were already integrated at this resolution.
            outside = torch.where(narrow, torch.logaddexp(outside, dropped), outside)
            edges = torch.where(narrow[:, None], zoom, edges)
            m = torch.where(todo & ~narrow, torch.clamp(2 * m, max=max_fine), m)
            for size in m[todo].unique().tolist():
                fine_pass((todo & (m == size)).nonzero().flatten(), size)
        inside = found["inside"]
        total = torch.logaddexp(inside, outside)
        # The outside cells' whole share counts as error: they are integrated coarsely.
        log_px.append(total)
        error.append(found["error"] + torch.log1p(torch.exp(outside - inside)))
        boxes.append(edges)
        points.append(m)
        summaries.append([found[name] for name in SUMMARY_FIELDS])
        if progress is not None:
            progress(min(len(x), start + chunk), len(x))
    return ExactLogLikelihood(
        log_px=torch.cat(log_px).double().cpu().numpy(),
        error=torch.cat(error).double().cpu().numpy(),
        box=torch.cat(boxes).cpu().numpy(),
        fine_points=torch.cat(points).cpu().numpy(),
        posterior=PosteriorSummary(
            *(torch.cat(parts).double().cpu().numpy() for parts in zip(*summaries, strict=True))
        ),
    )


# --- The posterior on a grid, for one x ---------------------------------------------------


@dataclass(frozen=True)
class PosteriorGrid:
    """p(z|x) on a grid of cell centres: log density (ny, nx), its moments and its modes."""

    xs: np.ndarray  # (nx,)
    ys: np.ndarray  # (ny,)
    log_density: np.ndarray  # (ny, nx), log p(z|x), normalised on this grid
    log_px: float  # log of the grid's integral of p(x, z)
    mean: np.ndarray  # (2,)
    cov: np.ndarray  # (2, 2)
    modes: np.ndarray  # (M, 2) local maxima, highest first
    mode_log_density: np.ndarray  # (M,)


def posterior_window(
    model: VAE, x, plane: LatentPlane | None = None, threshold: float = 25.0
) -> np.ndarray:
    """(4,) x0, x1, y0, y1: the box holding one example's posterior mass (and its encoder q)."""
    _check_model(model)
    xt = _as_tensor(model, x)[:1]
    plane = plane if plane is not None else decode_plane(model)
    with torch.no_grad():
        mu, logvar = model.encode(xt)
        box = _mass_boxes(plane, plane.log_joint(xt), mu.float(), logvar.float(), threshold)
    return (-plane.extent + plane.spacing * box.float())[0].cpu().numpy()


@torch.no_grad()
def exact_posterior(
    model: VAE, x, window, resolution: int = 96, mode_floor: float = 12.0
) -> PosteriorGrid:
    """p(z|x) ∝ p(x|z) p(z) for one x on a resolution² grid over window (x0, x1, y0, y1).

    The window must hold the posterior's mass (posterior_window gives one); modes are grid
    cells above their 8 neighbours within `mode_floor` nats of the highest.
    """
    _check_model(model)
    xt = _as_tensor(model, x)[:1]
    x0, x1, y0, y1 = (float(v) for v in window)
    xs = x0 + (x1 - x0) * (np.arange(resolution) + 0.5) / resolution
    ys = y0 + (y1 - y0) * (np.arange(resolution) + 0.5) / resolution
    zy, zx = np.meshgrid(ys, xs, indexing="ij")
    z = torch.as_tensor(np.stack([zx.ravel(), zy.ravel()], 1), dtype=torch.float32)
    z = z.to(model.device)
    decoded = torch.cat([model.decode(b) for b in z.split(8192)]).float()[None]  # (1, G, D)
    log_f = (_log_px_given_z(model, xt, decoded)[0] + _log_prior(z)).double().cpu().numpy()
    cell = math.log((x1 - x0) * (y1 - y0) / resolution**2)
    log_px = float(np.logaddexp.reduce(log_f) + cell)
    log_density = (log_f - log_px).reshape(resolution, resolution)
    weights = np.exp(log_density + cell).ravel()
    weights /= weights.sum()
    points = np.stack([zx.ravel(), zy.ravel()], 1)
    mean = weights @ points
    centred = points - mean
    cov = (centred * weights[:, None]).T @ centred
    modes, heights = _local_maxima(xs, ys, log_density, mode_floor)
    return PosteriorGrid(xs, ys, log_density, log_px, mean, cov, modes, heights)


def _local_maxima(xs, ys, values: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    padded = np.pad(values, 1, constant_values=-np.inf)
    ny, nx = values.shape
    peak = np.ones_like(values, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                peak &= values >= padded[1 + di : 1 + di + ny, 1 + dj : 1 + dj + nx]
    peak &= values >= values.max() - floor
    rows, cols = np.nonzero(peak)
    order = np.argsort(-values[rows, cols])
    modes = np.stack([xs[cols], ys[rows]], 1)[order]
    return modes, values[rows, cols][order]


# --- Gaussian q: its ELBO, the best one for each x (E-step), the gaps ------------------------


def _gauss_hermite_2d(nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points eps (K², 2) and weights (K²,) with Σ w f(eps) ≈ E_{eps~N(0, I)} f(eps)."""
    t, w = np.polynomial.hermite.hermgauss(nodes)
    t, w = t * math.sqrt(2.0), w / math.sqrt(math.pi)  # physicists' to probabilists' rule
    ex, ey = np.meshgrid(t, t, indexing="ij")
    weights = np.outer(w, w).ravel()
    eps = np.stack([ex.ravel(), ey.ravel()], 1)
    return torch.as_tensor(eps, dtype=torch.float32), torch.as_tensor(weights, dtype=torch.float32)


def gaussian_elbo(
    model: VAE, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, nodes: int = 8
) -> torch.Tensor:
    """ELBO of q = N(mu, diag exp(logvar)) for each x, (B,): deterministic and differentiable.

    E_q[log p(x|z)] by nodes × nodes Gauss–Hermite quadrature, KL(q ‖ p(z)) in closed form.
    """
    eps, weights = _gauss_hermite_2d(nodes)
    eps, weights = eps.to(x.device), weights.to(x.device)
    z = mu[:, None, :] + torch.exp(0.5 * logvar)[:, None, :] * eps  # (B, K², 2)
    decoded = model.decode(z.reshape(-1, 2)).view(len(x), len(eps), -1)
    expected = _log_px_given_z(model, x, decoded.float()) @ weights  # (B,)
    return expected - gaussian_kl(mu, logvar).sum(-1)


@dataclass(frozen=True)
class OptimalGaussian:
    """q*(z|x) per example and the ELBOs of q* and of the encoder's q, (B, ...) arrays."""

    mu: np.ndarray  # (B, 2)
    logvar: np.ndarray  # (B, 2)
    elbo: np.ndarray  # (B,) ELBO(q*) >= elbo_from_encoder >= elbo_encoder (see optimal_gaussian)
    encoder_mu: np.ndarray
    encoder_logvar: np.ndarray
    elbo_encoder: np.ndarray  # (B,) ELBO(q_encoder), same quadrature
    # The best Gaussian reached by ascent from the encoder's q alone: below ELBO(q*) where the
    # encoder sits in the basin of a lesser mode, which the ascent cannot leave.
    elbo_from_encoder: np.ndarray  # (B,)
    starts: np.ndarray  # (B,) how many ascents were run


def _other_starts(
    posterior: PosteriorSummary, mu_end: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Starts beyond the encoder's: the Laplace approximation at each mode of p(z|x) that the
    ascent from the encoder's q did not end on (mu_end further than one σ of the mode away on
    an axis), and, where there are several modes, the Gaussian with the posterior's mean and
    variances, which straddles them. Returns (S,) example indices, (S, 2) μ, (S, 2) log σ².
    """

    def as_tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=mu_end.dtype, device=mu_end.device)

    mean, var = as_tensor(posterior.mean), as_tensor(posterior.variance)
    # A flat-topped mode's parabola can be far wider than the whole posterior: cap it there.
    modes = as_tensor(posterior.modes)
    mode_var = torch.minimum(as_tensor(posterior.mode_variance), var[:, None])
    found = torch.isfinite(as_tensor(posterior.mode_height))  # (B, K)
    reached = ((modes - mu_end[:, None]).abs() <= mode_var.sqrt()).all(-1)
    several = found.sum(1) >= 2
    mus = torch.cat([modes, mean[:, None]], 1)  # (B, K + 1, 2)
    logvars = torch.cat([mode_var.log(), var.log()[:, None]], 1)
    use = torch.cat([found & ~reached, several[:, None]], 1)
    example, slot = use.nonzero(as_tuple=True)
    logvars = logvars[example, slot].clamp(LOG_MIN, LOG_MAX)
    return example, mus[example, slot], logvars


def optimal_gaussian(
    model: VAE,
    x,
    *,
    exact: ExactLogLikelihood | None = None,
    plane: LatentPlane | None = None,
    nodes: int = 8,
    score_nodes: int = 16,
    iterations: int = 40,
    batch_size: int = 8,
) -> OptimalGaussian:
    """The E-step: each example's best Gaussian N(μ, diag σ²), the global maximum of its ELBO.

    The ELBO of a posterior with several modes has a local maximum near each, so an ascent from
    the encoder's q stops at whichever mode the encoder chose, however minor. The ascent
    (L-BFGS with a line search on gaussian_elbo's deterministic `nodes`² quadrature) therefore
    runs from the encoder's q, then from each mode of p(z|x) that it did not reach and from a
    Gaussian straddling the modes (_other_starts); each end point is scored with a finer
    `score_nodes`² rule (a wide q over a bent log-likelihood needs it) and the best is q*. The
    modes come from the quadrature of log p(x): pass `exact` (exact_log_likelihood of the same
    x) to reuse it, else it is computed here, on `plane` if given. The encoder's q competes
    too, so ELBO(q*) >= ELBO(q_encoder). q* need not obey any bound the encoder puts on its σ.
    """
    _check_model(model)
    xt = _as_tensor(model, x)
    if exact is None:
        exact = exact_log_likelihood(model, xt, plane=plane)
    if len(exact.log_px) != len(xt):
        raise ValueError("exact must be exact_log_likelihood of the same examples")
    n = len(xt)
    with torch.no_grad():
        mu0, logvar0 = (t.float() for t in model.encode(xt))
    everyone = torch.arange(n, device=xt.device)
    mu_local, logvar_local = _ascend_all(
        model, xt, everyone, mu0, logvar0, nodes, iterations, batch_size
    )
    others, mu_start, logvar_start = _other_starts(exact.posterior, mu_local)
    mu_other, logvar_other = _ascend_all(
        model, xt, others, mu_start, logvar_start, nodes, iterations, batch_size
    )
    # The candidates: the encoder's q, the end of the ascent from it, the other ascents' ends.
    example = torch.cat([everyone, everyone, others])
    mu = torch.cat([mu0, mu_local, mu_other])
    logvar = torch.cat([logvar0, logvar_local, logvar_other])
    with torch.no_grad():
        scores = torch.cat(
            [
                gaussian_elbo(model, xt[e], m, v, score_nodes)
                for e, m, v in zip(
                    example.split(256), mu.split(256), logvar.split(256), strict=True
                )
            ]
        )
    # A NaN or infinite ELBO is a numerical failure of that candidate, never its best.
    scores = scores.nan_to_num(-math.inf, posinf=-math.inf, neginf=-math.inf)
    best = torch.full((n,), -math.inf, device=xt.device).scatter_reduce(0, example, scores, "amax")
    winner = (scores == best[example]).nonzero().flatten()  # the first to reach the best
    first = torch.full((n,), len(example), device=xt.device).scatter_reduce(
        0, example[winner], winner, "amin"
    )
    local = torch.maximum(scores[:n], scores[n : 2 * n])
    ascents = 1 + torch.bincount(others, minlength=n)
    fields = (mu[first], logvar[first], best, mu0, logvar0, scores[:n], local, ascents)
    return OptimalGaussian(*(t.cpu().numpy() for t in fields))


def _ascend_all(model, x, example, mu, logvar, nodes, iterations, batch_size):
    """_ascend for x[example[i]] from (mu[i], logvar[i]), batch_size pairs at a time."""
    if not len(example):
        return mu, logvar
    ends = [
        _ascend(model, x[e], m, v, nodes, iterations)
        for e, m, v in zip(
            example.split(batch_size), mu.split(batch_size), logvar.split(batch_size), strict=True
        )
    ]
    return torch.cat([e[0] for e in ends]), torch.cat([e[1] for e in ends])


def _ascend(
    model: VAE,
    x: torch.Tensor,
    mu0: torch.Tensor,
    logvar0: torch.Tensor,
    nodes: int,
    iterations: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L-BFGS ascent on the ELBO of each (x, q) pair from (mu0, logvar0): the end points."""
    mu = mu0.clone().requires_grad_(True)
    logvar = logvar0.clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS(
        [mu, logvar], max_iter=iterations, line_search_fn="strong_wolfe", tolerance_grad=1e-6
    )

    def closure() -> torch.Tensor:
        # Gradients go to (mu, logvar) only: the model may be shared and must not collect any.
        loss = -gaussian_elbo(model, x, mu, logvar.clamp(LOG_MIN, LOG_MAX), nodes).sum()
        mu.grad, logvar.grad = torch.autograd.grad(loss, [mu, logvar])
        return loss.detach()

    with torch.enable_grad():
        optimiser.step(closure)
    return mu.detach(), logvar.detach().clamp(LOG_MIN, LOG_MAX)


@dataclass(frozen=True)
class InferenceGaps:
    """Per-example (N,) arrays in nats (Cremer, Li & Duvenaud 2018)."""

    log_px: np.ndarray
    log_px_error: np.ndarray
    elbo_encoder: np.ndarray
    elbo_optimal: np.ndarray

    @property
    def approximation_gap(self) -> np.ndarray:
        """log p(x) − ELBO(q*) = KL(q* ‖ p(z|x)): what no Gaussian can close."""
        return self.log_px - self.elbo_optimal

    @property
    def amortisation_gap(self) -> np.ndarray:
        """ELBO(q*) − ELBO(q_encoder): what one shared encoder costs against per-x fitting."""
        return self.elbo_optimal - self.elbo_encoder

    @property
    def inference_gap(self) -> np.ndarray:
        """log p(x) − ELBO(q_encoder) = KL(q_encoder ‖ p(z|x)), the sum of the two."""
        return self.log_px - self.elbo_encoder


def inference_gaps(
    model: VAE, x, *, plane: LatentPlane | None = None, nodes: int = 8
) -> InferenceGaps:
    """log p(x), ELBO(q_encoder) and ELBO(q*) for each example of x (N, D)."""
    exact = exact_log_likelihood(model, x, plane=plane)
    best = optimal_gaussian(model, x, exact=exact, nodes=nodes)
    return InferenceGaps(exact.log_px, exact.error, best.elbo_encoder, best.elbo)


@torch.no_grad()
def kl_to_posterior_on_grid(
    model: VAE, x, mu, logvar, log_px: float, resolution: int = 64, reach: float = 7.0
) -> float:
    """KL(q ‖ p(z|x)) = ∫ q (log q − log p(x, z) + log p(x)) dz on a grid over q's μ ± reach σ.

    An independent check of log p(x) − ELBO(q): quadrature on a grid instead of Gauss–Hermite.
    """
    _check_model(model)
    xt = _as_tensor(model, x)[:1]
    mu = np.asarray(mu, dtype=np.float64).ravel()
    sigma = np.exp(0.5 * np.asarray(logvar, dtype=np.float64).ravel())
    axes = [
        mu[d] + sigma[d] * reach * (2 * (np.arange(resolution) + 0.5) / resolution - 1)
        for d in range(2)
    ]
    zy, zx = np.meshgrid(axes[1], axes[0], indexing="ij")
    points = np.stack([zx.ravel(), zy.ravel()], 1)
    z = torch.as_tensor(points, dtype=torch.float32, device=model.device)
    decoded = torch.cat([model.decode(b) for b in z.split(8192)]).float()[None]
    log_joint = (_log_px_given_z(model, xt, decoded)[0] + _log_prior(z)).double().cpu().numpy()
    log_q = -0.5 * (((points - mu) / sigma) ** 2).sum(1) - np.log(sigma).sum() - LOG_2PI
    cell = np.prod(2 * reach * sigma / resolution)
    q = np.exp(log_q) * cell
    return float((q * (log_q - log_joint + log_px)).sum() / q.sum())


# --- Estimators of log p(x) from k samples ----------------------------------------------------


@dataclass(frozen=True)
class EstimatorRuns:
    """Estimates (runs, len(ks)) of log p(x) for one x by three estimators at each k."""

    ks: np.ndarray  # (K,)
    naive: np.ndarray  # log (1/k) Σ p(x|z_i), z_i ~ p(z)
    iwae: np.ndarray  # log (1/k) Σ p(x, z_i) / q(z_i|x), z_i ~ q(z|x)
    elbo: np.ndarray  # (1/k) Σ log p(x, z_i) / q(z_i|x), z_i ~ q(z|x): no better with k


@torch.no_grad()
def log_px_estimates(
    model: VAE,
    x,
    ks=(1, 3, 10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000),
    runs: int = 5,
    seed: int = 0,
    batch_size: int = 8192,
) -> EstimatorRuns:
    """Each run draws max(ks) samples once and reads every k off its first k (nested prefixes)."""
    _check_model(model)
    xt = _as_tensor(model, x)[:1]
    ks = np.asarray(sorted(set(int(k) for k in ks)))
    if ks[0] < 1:
        raise ValueError("every k must be at least 1")
    k_max, at = int(ks[-1]), torch.as_tensor(ks - 1)
    mu, logvar = (t.float()[0] for t in model.encode(xt))
    std = torch.exp(0.5 * logvar)
    generator = torch.Generator(device=model.device)
    generator.manual_seed(seed)
    log_k = torch.log(torch.as_tensor(ks, dtype=torch.float64))
    out = {"naive": [], "iwae": [], "elbo": []}
    for _ in range(runs):
        z_prior = torch.randn((k_max, 2), generator=generator, device=model.device)
        eps = torch.randn((k_max, 2), generator=generator, device=model.device)
        z_q = mu + std * eps
        log_lik_prior = _log_lik(model, xt, z_prior, batch_size)
        log_w = (
            _log_lik(model, xt, z_q, batch_size)
            + _log_prior(z_q)
            + (0.5 * eps.pow(2).sum(-1) + 0.5 * logvar.sum() + LOG_2PI)  # − log q(z|x)
        ).double()
        out["naive"].append(torch.logcumsumexp(log_lik_prior.double(), 0)[at] - log_k)
        out["iwae"].append(torch.logcumsumexp(log_w, 0)[at] - log_k)
        out["elbo"].append(torch.cumsum(log_w, 0)[at] / torch.as_tensor(ks, dtype=torch.float64))
    return EstimatorRuns(
        ks, *(torch.stack(out[n]).cpu().numpy() for n in ("naive", "iwae", "elbo"))
    )


def _log_lik(model: VAE, x: torch.Tensor, z: torch.Tensor, batch_size: int) -> torch.Tensor:
    """log p(x|z_i) for one x (1, D) and z (S, 2): (S,)."""
    parts = [
        _log_px_given_z(model, x, model.decode(b).float()[None])[0] for b in z.split(batch_size)
    ]
    return torch.cat(parts)


__all__ = [
    "EstimatorRuns",
    "ExactLogLikelihood",
    "InferenceGaps",
    "LatentPlane",
    "OptimalGaussian",
    "PosteriorGrid",
    "decode_plane",
    "exact_log_likelihood",
    "exact_posterior",
    "gaussian_elbo",
    "inference_gaps",
    "kl_to_posterior_on_grid",
    "log_px_estimates",
    "optimal_gaussian",
    "posterior_window",
]

"""The Inference lab's computations for the active model, cached for the whole server per
model view (a saved model's view is shared by every session): the decoded plane, each chosen
point's panel and estimators, and the gaps over the test set.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from ui.active_model import ActiveModel
from ui.explore_cache import cached
from ui.view_cache import LatentView
from vae.inference import (
    EstimatorRuns,
    InferenceGaps,
    LatentPlane,
    PosteriorGrid,
    decode_plane,
    exact_log_likelihood,
    exact_posterior,
    kl_to_posterior_on_grid,
    log_px_estimates,
    optimal_gaussian,
    posterior_window,
)
from vae.scoring import scored_example, scored_examples

RESOLUTION = 64  # the posterior heatmap's cells per side: 4,096 decodes
GAP_CHUNK = 50  # test points per progress step of the across-the-test-set computation


@dataclass(frozen=True)
class PointInference:
    """Everything the posterior panel shows for one test point."""

    index: int
    log_px: float
    log_px_error: float
    grid: PosteriorGrid
    encoder_mu: np.ndarray  # (2,)
    encoder_sigma: np.ndarray
    optimal_mu: np.ndarray
    optimal_sigma: np.ndarray
    elbo_encoder: float
    elbo_optimal: float
    # The best ELBO an ascent from the encoder's q reaches: short of ELBO(q*) where the encoder
    # sits on a lesser mode, which the ascent cannot leave.
    elbo_from_encoder: float
    # The shares of p(z|x) within the encoder q's and q*'s 3σ ellipses: where their samples
    # land, and what a Gaussian on one mode leaves out.
    encoder_coverage: float
    optimal_coverage: float
    kl_encoder_on_grid: float  # KL(q_enc ‖ p(z|x)) by its own quadrature, a check
    seconds: float  # how long this took: the basis of the across-the-test-set time estimate

    @property
    def approximation_gap(self) -> float:
        return self.log_px - self.elbo_optimal

    @property
    def amortisation_gap(self) -> float:
        return self.elbo_optimal - self.elbo_encoder

    @property
    def inference_gap(self) -> float:
        return self.log_px - self.elbo_encoder


@st.cache_resource(show_spinner=False, max_entries=4)
def _plane(view_token: str, _model) -> LatentPlane:
    """The coarse decoded plane (~50 MB for 784 pixels), once per model view for the server."""
    del view_token  # the cache key only
    return decode_plane(_model)


def plane_for(active: ActiveModel, view: LatentView) -> LatentPlane:
    return _plane(view.token, active.model)


def decoder_is_finite(plane: LatentPlane) -> bool:
    """Whether the decoder gives finite numbers over the whole plane: the exact posterior and
    log p(x) are sums over it, so one NaN or ±inf cell leaves nothing to show (a checkpoint
    with finite but huge weights, ±3e38, overflows inside the network)."""
    parts = [plane.linear, plane.constant] + (
        [plane.quadratic] if plane.quadratic is not None else []
    )
    return all(bool(torch.isfinite(part).all()) for part in parts)


def _square_window(boxes: list[np.ndarray], pad: float = 0.15) -> np.ndarray:
    """The square (x0, x1, y0, y1) around all boxes, padded: equal axes need no stretching."""
    stacked = np.array(boxes)
    lo, hi = stacked[:, [0, 2]].min(0), stacked[:, [1, 3]].max(0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * (1 + pad)
    return np.array([centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half])


def _tighter_mass_box(grid: PosteriorGrid, floor: float) -> np.ndarray:
    """The cells of a first, coarser look within `floor` nats of the peak, one cell wider."""
    rows, cols = np.nonzero(grid.log_density >= grid.log_density.max() - floor)
    step = np.array([grid.xs[1] - grid.xs[0], grid.ys[1] - grid.ys[0]])
    return np.array([grid.xs[cols.min()] - step[0], grid.xs[cols.max()] + step[0],
                     grid.ys[rows.min()] - step[1], grid.ys[rows.max()] + step[1]])  # fmt: skip


def _q_box(mu: np.ndarray, sigma: np.ndarray, reach: float = 2.5) -> np.ndarray:
    return np.array([mu[0] - reach * sigma[0], mu[0] + reach * sigma[0],
                     mu[1] - reach * sigma[1], mu[1] + reach * sigma[1]])  # fmt: skip


def compute_point(model, plane: LatentPlane, x: np.ndarray, index: int) -> PointInference:
    """The posterior panel for one example x (D,): exact, q_encoder, q* and the check."""
    started = time.perf_counter()
    exact = exact_log_likelihood(model, x[None], plane=plane)
    best = optimal_gaussian(model, x[None], exact=exact)
    enc_mu, enc_sigma = best.encoder_mu[0], np.exp(0.5 * best.encoder_logvar[0])
    opt_mu, opt_sigma = best.mu[0], np.exp(0.5 * best.logvar[0])
    # Zoomed on the posterior's mass and both q's: a posterior of width 0.05 is a dot on the
    # prior's scale. The prior's circles are drawn wherever they cross this window.
    mass = posterior_window(model, x, plane, threshold=12.0)  # snapped to the plane's cells
    mass = _tighter_mass_box(exact_posterior(model, x, mass, resolution=48), floor=12.0)
    window = _square_window([mass, _q_box(enc_mu, enc_sigma), _q_box(opt_mu, opt_sigma)])
    grid = exact_posterior(model, x, window, resolution=RESOLUTION)
    log_px = float(exact.log_px[0])
    # 40 points over q's ±7σ: 0.35σ apart, ample for a Gaussian times a smooth log-likelihood.
    kl = kl_to_posterior_on_grid(
        model, x, best.encoder_mu[0], best.encoder_logvar[0], log_px, resolution=40
    )
    return PointInference(
        index=index,
        log_px=log_px,
        log_px_error=float(exact.error[0]),
        grid=grid,
        encoder_mu=enc_mu,
        encoder_sigma=enc_sigma,
        optimal_mu=opt_mu,
        optimal_sigma=opt_sigma,
        elbo_encoder=float(best.elbo_encoder[0]),
        elbo_optimal=float(best.elbo[0]),
        elbo_from_encoder=float(best.elbo_from_encoder[0]),
        encoder_coverage=_coverage(grid, enc_mu, enc_sigma),
        optimal_coverage=_coverage(grid, opt_mu, opt_sigma),
        kl_encoder_on_grid=kl,
        seconds=time.perf_counter() - started,
    )


def _coverage(grid: PosteriorGrid, mu: np.ndarray, sigma: np.ndarray, reach: float = 3.0) -> float:
    """The mass of p(z|x) on the grid within N(μ, σ²)'s `reach`-σ ellipse."""
    zx, zy = np.meshgrid(grid.xs, grid.ys)  # (ny, nx), as log_density
    inside = ((zx - mu[0]) / sigma[0]) ** 2 + ((zy - mu[1]) / sigma[1]) ** 2 <= reach**2
    weights = np.exp(grid.log_density - grid.log_density.max())
    return float(weights[inside].sum() / weights.sum())


def scored_x(active: ActiveModel, view: LatentView, index: int, draw: int) -> np.ndarray:
    """The x the lab scores for test point `index`: its binary sample `draw` for a
    dynamically binarised model, the grey levels otherwise (vae.scoring.scored_example)."""
    return scored_example(active.metadata, np.asarray(view.x[index]), draw)


@st.cache_resource(show_spinner=False, max_entries=64)
def _point(view_token: str, index: int, draw: int, _model, _plane: LatentPlane, _x: np.ndarray):
    del view_token, draw  # the cache key only
    return compute_point(_model, _plane, _x, index)


def point_inference(
    active: ActiveModel, view: LatentView, index: int, draw: int = 0
) -> PointInference:
    """compute_point for test point `index` (its scored x, see scored_x), once per model view,
    point and sample for the server: a class looking at the same point (a saved model's view
    is shared) computes it once."""
    x = scored_x(active, view, index, draw)
    return _point(view.token, index, draw, active.model, plane_for(active, view), x)


@st.cache_resource(show_spinner=False, max_entries=32)
def _estimates(
    view_token: str, index: int, draw: int, k_max: int, runs: int, _model, _x: np.ndarray
):
    del view_token, draw  # the cache key only
    ks = [k for k in (1, 3, 10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000) if k <= k_max]
    return log_px_estimates(_model, _x, ks=ks, runs=runs, seed=index)


def estimator_runs(
    active: ActiveModel, view: LatentView, index: int, k_max: int, runs: int, draw: int = 0
) -> EstimatorRuns:
    """The three estimators at k = 1, 3, 10, ..., k_max over `runs` runs (seeded by the point)
    on its scored x, once per model view, point, sample and options for the server."""
    x = scored_x(active, view, index, draw)
    return _estimates(view.token, index, draw, k_max, runs, active.model, x)


def input_inference(active: ActiveModel, view: LatentView, x: np.ndarray) -> PointInference:
    """compute_point for a drawn or uploaded picture x (D,), once per session and picture."""
    digest = hashlib.sha1(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()
    plane = plane_for(active, view)
    return cached(
        (active.key, "inference_input", digest),
        lambda: compute_point(active.model, plane, np.asarray(x, dtype=np.float32), -1),
    )


def input_estimates(active: ActiveModel, x: np.ndarray, k_max: int, runs: int) -> EstimatorRuns:
    """The three estimators for a drawn or uploaded picture, once per session and options."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    digest = hashlib.sha1(x.tobytes()).hexdigest()
    ks = [k for k in (1, 3, 10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000) if k <= k_max]
    return cached(
        (active.key, "inference_input_estimates", digest, k_max, runs),
        lambda: log_px_estimates(active.model, x, ks=ks, runs=runs),
    )


@dataclass(frozen=True)
class GapSample:
    """The gaps of the first n test points."""

    indices: np.ndarray  # (n,) test-point indices
    gaps: InferenceGaps
    seconds: float


@st.cache_resource(show_spinner=False)
def _gap_store() -> dict:
    """(view token, n) -> GapSample for the whole server, newest last (MAX_GAP_SAMPLES kept).

    A plain dict rather than a cached function: the computation reports progress through the
    calling page's elements, which a cached function may not touch.
    """
    return {}


MAX_GAP_SAMPLES = 6


def latest_gap_sample(view: LatentView) -> GapSample | None:
    """The largest gap sample computed for this view (on the Inference lab page), if any."""
    samples = [(n, s) for (token, n), s in list(_gap_store().items()) if token == view.token]
    return max(samples, key=lambda item: item[0])[1] if samples else None


def is_gap_sample_cached(view: LatentView, n: int) -> bool:
    return (view.token, min(n, len(view.x))) in _gap_store()


def gap_sample(
    active: ActiveModel, view: LatentView, n: int, progress: Callable[[float], None]
) -> GapSample:
    """The gaps of the first n test points, once per model view and n for the whole server."""
    n = min(n, len(view.x))
    store, key = _gap_store(), (view.token, n)
    if key in store:
        return store[key]
    plane = plane_for(active, view)
    started = time.perf_counter()
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, n, GAP_CHUNK):
        # Each point's scored x: its binary sample 0 for a dynamically binarised model.
        x = scored_examples(active.metadata, view.x[start : min(n, start + GAP_CHUNK)])
        exact = exact_log_likelihood(active.model, x, plane=plane)
        best = optimal_gaussian(active.model, x, exact=exact)
        parts.append((exact.log_px, exact.error, best.elbo_encoder, best.elbo))
        progress(min(n, start + GAP_CHUNK) / n)
    columns = (np.concatenate(c).astype(np.float64) for c in zip(*parts, strict=True))
    sample = GapSample(np.arange(n), InferenceGaps(*columns), time.perf_counter() - started)
    store[key] = sample
    while len(store) > MAX_GAP_SAMPLES:  # the oldest goes first
        store.pop(next(iter(store)))
    return sample


__all__ = [
    "GapSample",
    "PointInference",
    "compute_point",
    "decoder_is_finite",
    "estimator_runs",
    "gap_sample",
    "input_estimates",
    "input_inference",
    "is_gap_sample_cached",
    "plane_for",
    "point_inference",
    "scored_x",
]

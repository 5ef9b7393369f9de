"""The Inference lab's captions, written from the numbers they sit beside.

A sentence that holds for one posterior is false for another (a multi-modal posterior's gap
is amortisation when the encoder picks the lesser mode, approximation when no Gaussian can
cover the modes), so each caption reads the point's own gaps, modes and curves and says what
they show. Pure functions: numbers in, Markdown out (no Streamlit), every number formatted by
viz.inference.nats.
"""

from __future__ import annotations

import numpy as np

from ui.inference_lab import PointInference
from vae.inference import EstimatorRuns
from viz.inference import DISPLAY_FLOOR, nats

SMALL_GAP = 0.1  # nats: a gap this small is "nearly closed" (a likelihood ratio of 1.1)
CORRELATED = 0.3  # |correlation| from which a diagonal Gaussian's failure to tilt is named
CLOSE = 0.05  # nats: an estimate this near log p(x) has "reached" it


def _z(point: np.ndarray) -> str:
    return f"({point[0]:.2f}, {point[1]:.2f})"


def _nearest(modes: np.ndarray, z: np.ndarray) -> int:
    return int(np.argmin(((modes - z) ** 2).sum(1)))


def _straddles(point: PointInference) -> bool:
    """Whether q*'s 1σ ellipse holds two modes or more: one Gaussian over several."""
    modes = point.grid.modes
    inside = (((modes - point.optimal_mu) / point.optimal_sigma) ** 2).sum(1) <= 1.0
    return len(modes) >= 2 and int(inside.sum()) >= 2


def posterior_caption(point: PointInference) -> str:
    """What the posterior panel shows: p(z|x)'s shape, then why each gap is what it is."""
    grid = point.grid
    sd = np.sqrt(np.diag(grid.cov))
    corr = float(grid.cov[0, 1] / (sd[0] * sd[1]))
    count = len(grid.modes)
    facts = (
        f"p(z|x): mean {_z(grid.mean)}, sd ({sd[0]:.3f}, {sd[1]:.3f}), correlation "
        f"{corr:+.2f}, {count} mode{'s' if count != 1 else ''} within 12 nats of the highest. "
        f"q_enc: μ {_z(point.encoder_mu)}, σ ({point.encoder_sigma[0]:.3f}, "
        f"{point.encoder_sigma[1]:.3f}). q\\*: μ {_z(point.optimal_mu)}, σ "
        f"({point.optimal_sigma[0]:.3f}, {point.optimal_sigma[1]:.3f})."
    )
    return " ".join([facts, _approximation_sentence(point, corr), _amortisation_sentence(point)])


def _approximation_sentence(point: PointInference, corr: float) -> str:
    gap, modes = point.approximation_gap, point.grid.modes
    if gap < SMALL_GAP:
        return (
            f"The best Gaussian q\\* fits p(z|x) almost exactly: an approximation gap of "
            f"{nats(gap)} nats."
        )
    if len(modes) >= 2 and _straddles(point):
        return (
            f"q\\* straddles {len(modes)} modes: one Gaussian over all of them pays "
            f"{nats(gap)} nats for the space between, an approximation gap that no Gaussian, "
            "and so no encoder, can close."
        )
    if len(modes) >= 2:
        on = _nearest(modes, point.optimal_mu)
        which = "the highest mode" if on == 0 else f"the mode at {_z(modes[on])}"
        left_out = max(1.0 - point.optimal_coverage, 0.0)
        return (
            f"p(z|x) has {len(modes)} modes and a Gaussian covers one: q\\* sits on {which}. "
            f"The mass it leaves out ({_percent(left_out)} of p(z|x), "
            f"{nats(-float(np.log(max(point.optimal_coverage, 1e-300))))} nats) and the shape "
            f"of its own mode make the approximation gap, {nats(gap)} nats, which no "
            "Gaussian, and so no encoder, can close."
        )
    if abs(corr) >= CORRELATED:
        return (
            f"p(z|x) is correlated ({corr:+.2f}) and a diagonal Gaussian cannot tilt: the "
            f"best one leaves an approximation gap of {nats(gap)} nats, which no encoder can "
            "close."
        )
    return (
        f"p(z|x) is not Gaussian (skewed or curved): the best Gaussian leaves an approximation "
        f"gap of {nats(gap)} nats, which no encoder can close."
    )


def _amortisation_sentence(point: PointInference) -> str:
    gap, modes = point.amortisation_gap, point.grid.modes
    if gap < SMALL_GAP:
        return (
            f"The encoder's q is as good as the best Gaussian for this x: an amortisation gap "
            f"of {nats(gap)} nats."
        )
    share = "most" if gap > point.approximation_gap else "part"
    lead = f"The amortisation gap, {nats(gap)} nats, is {share} of the loss"
    if len(modes) >= 2:
        enc = _nearest(modes, point.encoder_mu)
        opt = _nearest(modes, point.optimal_mu)
        # Where an ascent from the encoder's q stops short of q*, the encoder chose its mode.
        trapped = point.elbo_optimal - point.elbo_from_encoder >= SMALL_GAP
        if trapped and (enc != opt or _straddles(point)):
            lesser = "a lesser mode" if enc != 0 else "the highest mode alone"
            where = "straddles the modes" if _straddles(point) else f"sits at {_z(modes[opt])}"
            return (
                f"{lead}: the encoder chose {lesser}, at {_z(modes[enc])}, and q\\* {where}. "
                f"An ascent of the ELBO from the encoder's q stays on the encoder's mode "
                f"(ELBO {nats(point.elbo_from_encoder)}): a per-example fit started from the "
                "encoder would not find q\\* either."
            )
    return (
        f"{lead}: the encoder's q is on the right mode but off in its centre or widths; a "
        "Gaussian fitted to this x alone gains that much."
    )


def _within(shortfall: float) -> str:
    """A distance from log p(x) in words: noise may put an estimate a little above it."""
    size = abs(shortfall)
    return "less than 0.001 nats" if size < DISPLAY_FLOOR else f"{nats(size)} nats"


def estimator_caption(runs: EstimatorRuns, exact: float, coverage: float) -> str:
    """What the estimator chart shows for this point, read off its median curves."""
    k_max = f"k = {int(runs.ks[-1]):,}"
    short = {name: exact - np.median(getattr(runs, name), 0) for name in ("naive", "iwae", "elbo")}
    # The ELBO's median over many samples is its value; IWAE starts there at k = 1.
    elbo_short, iwae_end = float(short["elbo"][-1]), float(short["iwae"][-1])
    if iwae_end < CLOSE:
        iwae = (
            f"Importance sampling with q (IWAE-k) rises from the ELBO, {_within(elbo_short)} "
            f"below log p(x), to within {_within(iwae_end)} of it at {k_max}."
        )
    elif coverage < 0.5:
        iwae = (
            f"IWAE-k stays {nats(iwae_end)} nats below log p(x) up to {k_max}: its proposal "
            f"q(z|x) covers only {_percent(coverage)} of p(z|x)'s mass within 3σ "
            f"(log {coverage:.3g} = {nats(float(np.log(max(coverage, 1e-300))))} nats), "
            "and its samples almost never land on the rest. A proposal on the wrong mode "
            "needs astronomically many samples."
        )
    else:
        closed = 1 - iwae_end / elbo_short if elbo_short > 0 else 0.0
        iwae = (
            f"IWAE-k closes {_percent(max(closed, 0.0))} of the ELBO's shortfall "
            f"({nats(elbo_short)} nats) by {k_max}, {nats(iwae_end)} nats left: where q is "
            "narrower than p(z|x) the weights p(x, z)/q(z|x) are heavy-tailed."
        )
    naive_end = float(short["naive"][-1])
    naive = (
        f"The naive estimator, averaging p(x|z) over z ~ p(z), is still {nats(naive_end)} nats "
        f"low at {k_max}: almost no prior draw lands where p(x|z) is large."
        if naive_end >= CLOSE
        else f"The naive estimator, averaging p(x|z) over z ~ p(z), is within "
        f"{_within(naive_end)} at {k_max}: p(z|x) is wide enough for prior draws to find it."
    )
    spread = np.ptp(runs.elbo, 0)
    elbo = (
        f"The ELBO only gets less noisy: its spread over {len(runs.elbo)} runs narrows from "
        f"{nats(float(spread[0]))} to {nats(float(spread[-1]))} nats, {_within(elbo_short)} "
        "below log p(x)."
    )
    return " ".join([iwae, naive, elbo])


LARGE_APPROXIMATION_GAP = 0.5  # nats: a likelihood ratio of 1.65 that no Gaussian can close


def large_gap_pick(indices: np.ndarray, approximation_gaps: np.ndarray) -> tuple[int, str]:
    """The test point with the largest approximation gap among those scored, and what to say
    of it: that it is large, or that none of them is (the largest is shown all the same)."""
    best = int(np.argmax(approximation_gaps))
    index, gap = int(indices[best]), float(approximation_gaps[best])
    median = float(np.median(approximation_gaps))
    among = f"the first {len(indices):,} test points"
    if gap >= LARGE_APPROXIMATION_GAP:
        return index, (
            f"Largest approximation gap among {among}: #{index}, {nats(gap)} nats (median "
            f"{nats(median)})"
        )
    return index, (
        f"No large approximation gap among {among}: every one is below "
        f"{LARGE_APPROXIMATION_GAP} nats (median {nats(median)}). Showing the largest, "
        f"#{index}, {nats(gap)} nats"
    )


def _percent(fraction: float) -> str:
    value = 100 * fraction
    return f"{value:.2g}%" if value < 10 else f"{value:.0f}%"


__all__ = ["LARGE_APPROXIMATION_GAP", "estimator_caption", "large_gap_pick", "posterior_caption"]

"""The Inference lab's captions and numbers say what the shown point's numbers show."""

from __future__ import annotations

import numpy as np
import pytest

from ui.inference_captions import estimator_caption, large_gap_pick, posterior_caption
from ui.inference_lab import PointInference
from ui.inference_panel import numbers_table
from vae.inference import EstimatorRuns, PosteriorGrid
from viz.inference import convergence_figure, error_text, nats


def grid_with_modes(modes) -> PosteriorGrid:
    xs = ys = np.linspace(-3, 3, 61)
    zx, zy = np.meshgrid(xs, ys)
    log_density = np.log(
        sum(w * np.exp(-(((zx - m[0]) ** 2 + (zy - m[1]) ** 2) / (2 * 0.1**2))) for *m, w in modes)
        + 1e-300
    )
    points = np.array([m[:2] for m in modes], dtype=float)
    return PosteriorGrid(
        xs, ys, log_density, 0.0, points.mean(0), np.eye(2) * 0.25, points, np.zeros(len(modes))
    )


def point(grid, *, enc, opt, log_px, elbo_enc, elbo_opt, elbo_from_enc, coverage=1.0,
          optimal_coverage=1.0):  # fmt: skip
    return PointInference(
        index=3, log_px=log_px, log_px_error=1e-33, grid=grid,
        encoder_mu=np.array(enc, float), encoder_sigma=np.array([0.1, 0.1]),
        optimal_mu=np.array(opt, float), optimal_sigma=np.array([0.1, 0.1]),
        elbo_encoder=elbo_enc, elbo_optimal=elbo_opt, elbo_from_encoder=elbo_from_enc,
        encoder_coverage=coverage, optimal_coverage=optimal_coverage, kl_encoder_on_grid=log_px - elbo_enc, seconds=0.1,
    )  # fmt: skip


def test_errors_below_the_display_precision_read_as_such():
    assert nats(-263.78149, error=7e-33) == "-263.781 (error < 0.001)"
    assert nats(-263.78149, error=0.0123) == "-263.781 ± 0.012"
    assert error_text(4e-4) == "< 0.001"
    assert "e-" not in numbers_table(
        point(
            grid_with_modes([(0, 0, 1)]),
            enc=(0, 0),
            opt=(0, 0),
            log_px=-200.0,
            elbo_enc=-200.5,
            elbo_opt=-200.1,
            elbo_from_enc=-200.1,
        )  # fmt: skip
    )


def test_a_point_whose_encoder_chose_the_lesser_mode_is_called_an_amortisation_failure():
    """Test point #42 of the shipped model, as the independent search measured it."""
    grid = grid_with_modes([(-1.57, 0.07, 1.0), (-0.99, -1.04, 0.004)])  # highest first
    shown = point(grid, enc=(-0.99, -1.04), opt=(-1.57, 0.07), log_px=-263.78,
                  elbo_enc=-269.54, elbo_opt=-263.834, elbo_from_enc=-269.09)  # fmt: skip
    text = posterior_caption(shown)
    assert "fits p(z|x) almost exactly: an approximation gap of 0.054 nats" in text
    assert "can close" not in text
    assert "The amortisation gap, 5.706 nats, is most of the loss" in text
    assert (
        "the encoder chose a lesser mode, at (-0.99, -1.04), and q\\* sits at (-1.57, 0.07)" in text
    )


def test_no_encoder_can_close_is_said_only_of_a_real_approximation_gap():
    grid = grid_with_modes([(0.6, 1.4, 1.0), (2.3, 0.55, 0.3)])
    large = point(grid, enc=(0.6, 1.4), opt=(0.6, 1.4), log_px=-219.23, elbo_enc=-219.64,
                  elbo_opt=-219.61, elbo_from_enc=-219.61, optimal_coverage=0.77)  # fmt: skip
    text = posterior_caption(large)
    assert (
        "q\\* sits on the highest mode. The mass it leaves out (23% of p(z|x), 0.261 nats)" in text
    )
    assert "approximation gap, 0.380 nats, which no Gaussian, and so no encoder, can close" in text
    small = point(grid_with_modes([(0.8, 0.8, 1.0)]), enc=(0.8, 0.8), opt=(0.8, 0.8),
                  log_px=-200.088, elbo_enc=-200.13, elbo_opt=-200.098,
                  elbo_from_enc=-200.098)  # fmt: skip
    text = posterior_caption(small)
    assert "almost exactly" in text and "can close" not in text
    assert "as good as the best Gaussian" in text


def runs(iwae_short, naive_short=50.0, exact=-100.0, ks=(1, 10, 100, 1000, 10_000)):
    ks = np.asarray(ks)
    shortfall = np.asarray(iwae_short, float)
    iwae = np.tile(exact - shortfall, (3, 1))
    elbo = np.tile(np.full(len(ks), exact - shortfall[0]), (3, 1)) + [[0.1], [0.0], [-0.1]]
    naive = np.tile(np.full(len(ks), exact - naive_short), (3, 1))
    return EstimatorRuns(ks, naive, iwae, elbo)


def test_the_estimator_caption_says_iwae_stays_low_when_its_proposal_misses_the_mass():
    stuck = runs([6.2, 6.0, 5.9, 5.9, 5.9])
    text = estimator_caption(stuck, -100.0, coverage=0.003)
    assert "IWAE-k stays 5.900 nats below log p(x) up to k = 10,000" in text
    assert "covers only 0.3% of p(z|x)'s mass" in text
    reached = runs([0.03, 0.01, 0.004, 0.0015, 0.0004])
    text = estimator_caption(reached, -100.0, coverage=0.99)
    assert "rises from the ELBO, 0.030 nats below log p(x)" in text
    assert "to within less than 0.001 nats of it at k = 10,000" in text
    # A median run a little above log p(x) (noise) is near it, never "-0.002 nats below".
    above = runs([0.03, 0.01, 0.004, 0.0015, -0.002], naive_short=-0.0004)
    text = estimator_caption(above, -100.0, coverage=0.99)
    assert "-0." not in text and "within 0.002 nats of it" in text
    assert "The naive estimator, averaging p(x|z) over z ~ p(z), is within less than 0.001" in text


def test_the_chart_shows_a_hundredth_of_a_nat_between_iwae_and_the_exact_value():
    typical = runs([0.03, 0.012, 0.011, 0.0105, 0.0101], naive_short=40.0)
    fig = convergence_figure(
        typical.ks, {"naive": typical.naive, "iwae": typical.iwae, "elbo": typical.elbo}, -100.0
    )
    assert fig.layout.yaxis2.type == "log"
    iwae_shortfall = next(
        t for t in fig.data if t.yaxis == "y2" and t.mode == "lines+markers" and
        t.legendgroup == "iwae"
    )  # fmt: skip
    # 0.0101 nats, a whole decade above the 0.001 floor: on a 40-nat linear axis it was 0.03 %.
    assert iwae_shortfall.y[-1] == pytest.approx(0.0101, rel=1e-6)
    assert np.log10(iwae_shortfall.y[-1] / 1e-3) > 1.0


def test_the_large_gap_button_says_when_no_gap_is_large():
    index, message = large_gap_pick(np.arange(5), np.array([0.01, 0.05, 0.3, 0.02, 0.04]))
    assert index == 2
    assert message.startswith("No large approximation gap among the first 5 test points")
    index, message = large_gap_pick(np.arange(10, 13), np.array([0.1, 1.2, 0.05]))
    assert index == 11 and message.startswith("Largest approximation gap")

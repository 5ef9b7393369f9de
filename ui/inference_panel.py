"""The Inference lab's panels: the exact posterior beside q with its numbers, the estimators of
log p(x) against k, and the gaps over the test set. The page picks the point; these render it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from ui import presenter
from ui.active_model import ActiveModel
from ui.inference_captions import estimator_caption, large_gap_pick, posterior_caption
from ui.inference_lab import (
    PointInference,
    estimator_runs,
    gap_sample,
    input_estimates,
    is_gap_sample_cached,
)
from ui.latent_panel import point_label
from ui.page_style import stack_columns_when_narrow
from ui.scored_input import likelihood_note, show_scored_x
from ui.text import plain
from ui.view_cache import LatentView
from viz.inference import (
    convergence_figure,
    error_text,
    gap_histograms,
    nats,
    posterior_figure,
)

GAP_SIZES = [50, 100, 200, 500, 1000]
LARGE_GAP_SAMPLE = 100  # test points searched for a large approximation gap


def numbers_table(point: PointInference) -> str:
    """The panel's numbers as a Markdown table, each formatted by viz.inference.nats."""
    return (
        "| | nats |\n|---|---:|\n"
        f"| log p(x), exact (quadrature) | **{nats(point.log_px, error=point.log_px_error)}** |\n"
        f"| ELBO(q_encoder) | {nats(point.elbo_encoder)} |\n"
        f"| ELBO(q\\*), the best Gaussian (E-step) | {nats(point.elbo_optimal)} |\n"
        f"| approximation gap: log p(x) − ELBO(q\\*) | {nats(point.approximation_gap)} |\n"
        f"| amortisation gap: ELBO(q\\*) − ELBO(q_enc) | {nats(point.amortisation_gap)} |\n"
        f"| KL(q_enc ‖ p(z\\|x)) = log p(x) − ELBO(q_enc) | {nats(point.inference_gap)} |\n"
        f"| KL(q_enc ‖ p(z\\|x)) on its own grid (check) | {nats(point.kl_encoder_on_grid)} |"
    )


def panel_heading(view: LatentView, index: int | None, input_name: str | None) -> str:
    """The panel's title: the test point with its class, or the drawn or uploaded input."""
    if index is None:
        return f"**{plain(input_name or 'your input')}**"
    return f"**test point #{index:d}**{point_label(view, index)}"


def posterior_panel(
    active: ActiveModel,
    view: LatentView,
    point: PointInference,
    x_shown: np.ndarray,
    x_scored: np.ndarray,
    draw: int,
    *,
    index: int | None = None,
    input_name: str | None = None,
) -> None:
    """p(z|x) against q_enc and q* on the left; x (the scored sample beside it for a binarised
    model), the numbers and what they show on the right. Titled by the test point `index`, or
    by `input_name` for a drawing or an upload."""
    shape = active.dataset.image_shape
    stack_columns_when_narrow("inf_row")
    with st.container(key="inf_row"):
        left, right = st.columns([1.25, 1])
    with left:
        grid = point.grid
        presenter.plotly_chart(
            posterior_figure(
                grid.xs,
                grid.ys,
                grid.log_density,
                encoder=(point.encoder_mu, point.encoder_sigma),
                optimal=(point.optimal_mu, point.optimal_sigma),
                modes=grid.modes,
                mean=grid.mean,
                height=presenter.height(520),
                font_size=presenter.font_size(),
            ),
            key="inf_posterior",
            config={"displaylogo": False},
        )
    with right:
        st.markdown(panel_heading(view, index, input_name))
        if shape is not None:
            show_scored_x(active, x_shown, x_scored, draw, shape)
        else:
            st.caption("These data are not images: x is shown only through its numbers below.")
        st.markdown(numbers_table(point))
        likelihood_note(active)
        st.caption(posterior_caption(point))


def estimator_panel(
    active: ActiveModel, view: LatentView, point: PointInference, x_scored: np.ndarray, draw: int
) -> None:
    """The naive, IWAE and ELBO estimators against k for the scored x, with the exact value."""
    st.subheader("Estimating log p(x) from k samples")
    c = st.columns([1.3, 1, 3])
    k_max = c[0].select_slider(
        "largest k", [1_000, 10_000, 100_000], value=10_000, key="inf_k_max",
        format_func=lambda k: f"{k:,}",
    )  # fmt: skip
    runs = c[1].select_slider("runs", [3, 5, 10], value=5, key="inf_runs")
    c[2].caption(
        "Each run draws k_max samples once and reads every smaller k off its first k. Above: "
        "the estimates; below: how far each stays under log p(x), on a log scale."
    )
    with st.spinner(f"{2 * runs * k_max:,} decoder calls…"):
        if point.index < 0:  # a drawn or uploaded picture
            estimates = input_estimates(active, x_scored, k_max, runs)
        else:
            estimates = estimator_runs(active, view, point.index, k_max, runs, draw)
    presenter.plotly_chart(
        convergence_figure(
            estimates.ks,
            {"naive": estimates.naive, "iwae": estimates.iwae, "elbo": estimates.elbo},
            point.log_px,
            exact_error=point.log_px_error,
            height=presenter.height(560),
            font_size=presenter.font_size(),
        ),
        key="inf_convergence",
        config={"displaylogo": False},
    )
    st.caption(estimator_caption(estimates, point.log_px, point.encoder_coverage))
    likelihood_note(active, short=True)


def find_large_gap(active: ActiveModel, view: LatentView) -> int:
    """The test point with the largest approximation gap among the first LARGE_GAP_SAMPLE,
    computed with a progress bar; its status line says whether that gap is large."""
    with st.status(f"Gaps of the first {LARGE_GAP_SAMPLE} test points…") as status:
        bar = st.progress(0.0)
        sample = gap_sample(active, view, LARGE_GAP_SAMPLE, progress=bar.progress)
        index, message = large_gap_pick(sample.indices, sample.gaps.approximation_gap)
        status.update(label=message, state="complete", expanded=False)
    return index


def test_set_panel(
    active: ActiveModel, view: LatentView, point: PointInference, choose: Callable[[int], None]
) -> None:
    """The gaps of the first n test points as histograms, with their means and the points of
    largest approximation gap as buttons (`choose(index)` shows one)."""
    st.subheader("Across the test set")
    c = st.columns([1.3, 1.5, 2.5])
    n = c[0].select_slider(
        "test points", [s for s in GAP_SIZES if s <= len(view.x)] or [len(view.x)],
        key="inf_gap_n",
    )  # fmt: skip
    estimate = max(1, round(n * point.seconds))
    ready = is_gap_sample_cached(view, min(n, len(view.x)))
    go = c[1].button("Show" if ready else f"Compute (≈ {estimate} s)", key="inf_gap_go")
    c[2].caption(
        f"log p(x) by quadrature and q\\* (the best Gaussian, searched from every mode of "
        f"p(z|x)) for each of the first {n:,} test points; the estimate is from this point's "
        "own time. Computed once per model for every session."
    )
    if not (go or ready):
        return
    with st.status(f"Gaps of {n:,} test points…", expanded=False) as status:
        bar = st.progress(0.0)
        sample = gap_sample(active, view, n, progress=bar.progress)
        status.update(label=f"Gaps of {n:,} test points ({sample.seconds:.0f} s)", state="complete")
    gaps = sample.gaps
    presenter.plotly_chart(
        gap_histograms(
            gaps.approximation_gap,
            gaps.amortisation_gap,
            gaps.inference_gap,
            height=presenter.height(320),
            font_size=presenter.font_size(),
        ),
        key="inf_gaps",
        config={"displaylogo": False},
    )
    worst = np.argsort(-gaps.approximation_gap)[:5]
    st.caption(
        f"Means over {n:,} points: log p(x) {nats(gaps.log_px.mean())}, ELBO(q_enc) "
        f"{nats(gaps.elbo_encoder.mean())}, ELBO(q\\*) {nats(gaps.elbo_optimal.mean())} nats; "
        f"approximation gap {nats(gaps.approximation_gap.mean())}, amortisation gap "
        f"{nats(gaps.amortisation_gap.mean())} nats; largest quadrature error estimate "
        f"{error_text(float(gaps.log_px_error.max()))} nats. Largest approximation gaps:"
    )
    likelihood_note(active, short=True)
    with st.container(horizontal=True):
        for i in worst:
            st.button(
                f"#{int(sample.indices[i])}: {nats(gaps.approximation_gap[i])} nats",
                key=f"inf_worst_{i}",
                on_click=choose,
                args=(int(sample.indices[i]),),
            )


__all__ = [
    "GAP_SIZES",
    "LARGE_GAP_SAMPLE",
    "estimator_panel",
    "find_large_gap",
    "numbers_table",
    "posterior_panel",
    "test_set_panel",
]

"""Inference lab: the exact posterior p(z|x) beside q(z|x), log p(x) by quadrature, the gaps."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import presenter, selection
from ui.guards import require_active_model
from ui.inference_lab import (
    decoder_is_finite,
    estimator_runs,
    gap_sample,
    input_estimates,
    input_inference,
    is_gap_sample_cached,
    plane_for,
    point_inference,
    scored_x,
)
from ui.latent_panel import point_label
from ui.scored_input import likelihood_note, sample_control, show_scored_x
from ui.session_keys import INFERENCE_INDEX_KEY, INFERENCE_INPUT_KEY, INFERENCE_WANT_LARGE_GAP_KEY
from ui.text import plain
from ui.view_cache import latent_view
from vae.scoring import scored_example
from viz.inference import convergence_figure, gap_histograms, posterior_figure

GAP_SIZES = [50, 100, 200, 500, 1000]
LARGE_GAP_SAMPLE = 100  # test points searched for a large approximation gap

st.title("Inference lab")
active = require_active_model()
if active.model.config.latent_dim != 2:
    st.info(
        f"This model has a {active.model.config.latent_dim:d}-D latent space. The exact posterior "
        "and log p(x) are computed on a grid over the latent plane: this page needs a 2-D "
        "latent space. Train one with latent dim 2 (the default)."
    )
    st.stop()
view = latent_view(active)
shape = active.dataset.image_shape
if not decoder_is_finite(plane_for(active, view)):
    st.warning(
        f"“{plain(active.name)}”'s decoder gives NaN or infinite values on the latent plane, so "
        "p(z|x) and log p(x) cannot be computed (its weights are too large to compute with)."
    )
    st.stop()

with st.expander("The maths: exact inference against the ELBO", expanded=False):
    st.latex(r"p(z\mid x) = \frac{p(x\mid z)\,p(z)}{p(x)}, \qquad p(x) = \int p(x\mid z)\,p(z)\,dz")
    st.latex(
        r"\log p(x) = \underbrace{\mathbb{E}_{q(z\mid x)}\!\left[\log p(x\mid z)\right]"
        r" - \mathrm{KL}\!\left(q(z\mid x)\,\|\,p(z)\right)}_{\mathrm{ELBO}(q)}"
        r" + \mathrm{KL}\!\left(q(z\mid x)\,\|\,p(z\mid x)\right)"
    )
    st.markdown(
        "With a 2-D latent space the integral over z is a quadrature on a grid, so log p(x) "
        "and p(z|x) are computed here to a stated error instead of bounded. As in EM, "
        "inference and learning alternate:"
    )
    st.latex(
        r"\text{E-step: } q^*(z\mid x) = \arg\max_{q\in\mathcal{Q}} \mathrm{ELBO}(q)"
        r" = \arg\min_{q\in\mathcal{Q}} \mathrm{KL}\!\left(q\,\|\,p(z\mid x)\right)"
        r"\qquad \text{M-step: } \theta \leftarrow \arg\max_\theta \mathrm{ELBO}"
    )
    st.markdown(
        "A VAE replaces the per-example E-step with one encoder for all x (amortised "
        "inference) and takes both steps at once by gradient ascent. Here q\\* is that E-step "
        "done for one x: its own Gaussian, fitted by L-BFGS from the encoder's. The two gaps "
        "(Cremer, Li & Duvenaud 2018, *Inference Suboptimality in VAEs*):"
    )
    st.latex(
        r"\underbrace{\log p(x) - \mathrm{ELBO}(q^*)}_{\text{approximation gap}}"
        r" + \underbrace{\mathrm{ELBO}(q^*) - \mathrm{ELBO}(q_{\text{enc}})}"
        r"_{\text{amortisation gap}} = \mathrm{KL}\!\left(q_{\text{enc}}\,\|\,p(z\mid x)\right)"
    )

# --- Which point -------------------------------------------------------------------------
click = selection.clicked()
clicked = click.index if click is not None else None
if clicked is not None and not 0 <= int(clicked) < len(view.x):
    clicked = None
if INFERENCE_INDEX_KEY not in st.session_state:
    st.session_state[INFERENCE_INDEX_KEY] = int(clicked) if clicked is not None else 0


def _choose(index: int) -> None:
    st.session_state[INFERENCE_INDEX_KEY] = int(index)


def _want_large_gap() -> None:
    st.session_state[INFERENCE_WANT_LARGE_GAP_KEY] = True


if st.session_state[INFERENCE_WANT_LARGE_GAP_KEY]:  # before the index input is drawn
    st.session_state[INFERENCE_WANT_LARGE_GAP_KEY] = False
    with st.status(f"Gaps of the first {LARGE_GAP_SAMPLE} test points…") as status:
        bar = st.progress(0.0)
        sample = gap_sample(active, view, LARGE_GAP_SAMPLE, progress=bar.progress)
        largest = int(np.argmax(sample.gaps.approximation_gap))
        _choose(int(sample.indices[largest]))
        status.update(
            label=f"Largest approximation gap among the first {len(sample.indices)} test "
            f"points: #{sample.indices[largest]}, "
            f"{sample.gaps.approximation_gap[largest]:.2f} nats",
            state="complete",
            expanded=False,
        )

with st.container(horizontal=True, vertical_alignment="bottom"):
    st.number_input(
        "Test point #",
        min_value=0,
        max_value=len(view.x) - 1,
        step=1,
        key=INFERENCE_INDEX_KEY,
        width=140,
    )
    st.button(
        f"Last clicked on the Latent map (#{clicked:d})" if clicked is not None
        else "Last clicked on the Latent map (none yet)",
        key="inf_use_clicked",
        disabled=clicked is None,
        on_click=_choose,
        args=(clicked if clicked is not None else 0,),
    )  # fmt: skip
    st.button(
        "Show me a test point with a large approximation gap",
        key="inf_large_gap",
        icon=":material/travel_explore:",
        on_click=_want_large_gap,
        help=f"The largest log p(x) − ELBO(q*) among the first {LARGE_GAP_SAMPLE} test points "
        "(computed once per model; the first time takes a while).",
    )
# A picture drawn or uploaded on the Draw & encode page, sent here with its "send" button.
drawn = st.session_state.get(INFERENCE_INPUT_KEY)
use_drawing = False
if drawn is not None and len(drawn.get("x", ())) == view.x.shape[1]:
    use_drawing = st.toggle(
        f"Show {'your drawing' if drawn.get('source') == 'drawing' else plain(drawn.get('name'))} "
        "from Draw & encode instead of a test point",
        value=True,
        key="inf_use_drawing",
    )
else:
    st.caption(
        "Draw or upload an image on **Draw & encode** and send it here to see its posterior."
    )

index = int(st.session_state[INFERENCE_INDEX_KEY])
draw = sample_control(active)  # which binary sample of x a binarised model is scored on
with st.spinner("Computing p(z|x) on a grid and fitting q*…"):
    if use_drawing:
        x_shown = np.asarray(drawn["x"], dtype=np.float32)
        x_scored = scored_example(active.metadata, x_shown, draw)
        point = input_inference(active, view, x_scored)
    else:
        x_shown = np.asarray(view.x[index])
        x_scored = scored_x(active, view, index, draw)
        point = point_inference(active, view, index, draw)

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
    if use_drawing:
        name = "your drawing" if drawn.get("source") == "drawing" else drawn.get("name")
        st.markdown(f"**{plain(name)}**")
    else:
        st.markdown(f"**test point #{index}**{point_label(view, index)}")
    if shape is not None:
        show_scored_x(active, x_shown, x_scored, draw, shape)
    else:
        st.caption("These data are not images: x is shown only through its numbers below.")
    kl_gap = point.log_px - point.elbo_encoder
    st.markdown(
        "| | nats |\n|---|---:|\n"
        f"| log p(x), exact (quadrature) | **{point.log_px:.3f}** ± {point.log_px_error:.1g} |\n"
        f"| ELBO(q_encoder) | {point.elbo_encoder:.3f} |\n"
        f"| ELBO(q\\*), the E-step | {point.elbo_optimal:.3f} |\n"
        f"| approximation gap: log p(x) − ELBO(q\\*) | {point.approximation_gap:.3f} |\n"
        f"| amortisation gap: ELBO(q\\*) − ELBO(q_enc) | {point.amortisation_gap:.3f} |\n"
        f"| KL(q_enc ‖ p(z\\|x)) = log p(x) − ELBO(q_enc) | {kl_gap:.3f} |\n"
        f"| KL(q_enc ‖ p(z\\|x)) on its own grid (check) | {point.kl_encoder_on_grid:.3f} |"
    )
    likelihood_note(active)
    sd = np.sqrt(np.diag(grid.cov))
    corr = grid.cov[0, 1] / (sd[0] * sd[1])
    st.caption(
        f"p(z|x): mean ({grid.mean[0]:.3f}, {grid.mean[1]:.3f}), sd ({sd[0]:.3f}, {sd[1]:.3f}), "
        f"correlation {corr:+.2f}, {len(grid.modes)} mode{'s' if len(grid.modes) != 1 else ''}. "
        f"q_enc: μ ({point.encoder_mu[0]:.3f}, {point.encoder_mu[1]:.3f}), σ "
        f"({point.encoder_sigma[0]:.3f}, {point.encoder_sigma[1]:.3f}). q\\*: μ "
        f"({point.optimal_mu[0]:.3f}, {point.optimal_mu[1]:.3f}), σ "
        f"({point.optimal_sigma[0]:.3f}, {point.optimal_sigma[1]:.3f}). "
        "A diagonal Gaussian cannot tilt or bend: a correlated, curved or multi-modal "
        "posterior leaves an approximation gap that no encoder can close."
    )

# --- The estimators ------------------------------------------------------------------------
st.subheader("Estimating log p(x) from k samples")
c = st.columns([1.3, 1, 3])
k_max = c[0].select_slider(
    "largest k", [1_000, 10_000, 100_000], value=10_000, key="inf_k_max",
    format_func=lambda k: f"{k:,}",
)  # fmt: skip
runs = c[1].select_slider("runs", [3, 5, 10], value=5, key="inf_runs")
c[2].caption(
    "Each run draws k_max samples once and reads every smaller k off its first k. The naive "
    "estimator averages p(x|z) over z ~ p(z): almost no prior draw lands where p(x|z) is "
    "large, so it needs astronomically many. Importance sampling with q (IWAE-k) rises to "
    "log p(x) from the ELBO; the ELBO itself only gets less noisy."
)
with st.spinner(f"{2 * runs * k_max:,} decoder calls…"):
    if use_drawing:
        estimates = input_estimates(active, x_scored, k_max, runs)
    else:
        estimates = estimator_runs(active, view, index, k_max, runs, draw)
presenter.plotly_chart(
    convergence_figure(
        estimates.ks,
        {"naive": estimates.naive, "iwae": estimates.iwae, "elbo": estimates.elbo},
        point.log_px,
        exact_error=point.log_px_error,
        height=presenter.height(420),
        font_size=presenter.font_size(),
    ),
    key="inf_convergence",
    config={"displaylogo": False},
)
likelihood_note(active, short=True)

# --- Across the test set -----------------------------------------------------------------
st.subheader("Across the test set")
c = st.columns([1.3, 1.5, 2.5])
n = c[0].select_slider(
    "test points", [s for s in GAP_SIZES if s <= len(view.x)] or [len(view.x)], key="inf_gap_n"
)
estimate = max(1, round(n * point.seconds))
ready = is_gap_sample_cached(view, min(n, len(view.x)))
go = c[1].button("Show" if ready else f"Compute (≈ {estimate} s)", key="inf_gap_go", disabled=False)
c[2].caption(
    f"log p(x) by quadrature and q\\* by L-BFGS for each of the first {n:,} test points; the "
    "estimate is from this point's own time. Computed once per model for every session."
)
if go or ready:
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
        f"Means over {n:,} points: log p(x) {gaps.log_px.mean():.2f}, ELBO(q_enc) "
        f"{gaps.elbo_encoder.mean():.2f}, ELBO(q*) {gaps.elbo_optimal.mean():.2f} nats; "
        f"largest quadrature error estimate {gaps.log_px_error.max():.1g} nats. Largest "
        "approximation gaps:"
    )
    likelihood_note(active, short=True)
    with st.container(horizontal=True):
        for i in worst:
            st.button(
                f"#{int(sample.indices[i])}: {gaps.approximation_gap[i]:.2f} nats",
                key=f"inf_worst_{i}",
                on_click=_choose,
                args=(int(sample.indices[i]),),
            )

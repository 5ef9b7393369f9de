"""Inference lab: the exact posterior p(z|x) beside q(z|x), log p(x) by quadrature, the gaps."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import presenter, scored_input, selection
from ui.guards import require_active_model
from ui.inference_lab import (
    decoder_is_finite,
    input_inference,
    plane_for,
    point_inference,
    scored_x,
)
from ui.inference_panel import (
    LARGE_GAP_SAMPLE,
    estimator_panel,
    find_large_gap,
    posterior_panel,
    test_set_panel,
)
from ui.scene_panel import scenes_expander
from ui.scored_input import sample_control
from ui.session_keys import INFERENCE_INDEX_KEY, INFERENCE_INPUT_KEY, INFERENCE_WANT_LARGE_GAP_KEY
from ui.share import write_url
from ui.text import plain
from ui.view_cache import latent_view
from vae.scoring import scored_example

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
        "done for one x: the best diagonal Gaussian for it, found by L-BFGS ascents from the "
        "encoder's q, from every mode of p(z|x) and from a Gaussian straddling the modes (an "
        "ascent from the encoder alone stops on whichever mode the encoder chose). The two "
        "gaps (Cremer, Li & Duvenaud 2018, *Inference Suboptimality in VAEs*):"
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
scored_input.choose_point_once(int(clicked) if clicked is not None else 0)


def _want_large_gap() -> None:
    st.session_state[INFERENCE_WANT_LARGE_GAP_KEY] = True


if st.session_state[INFERENCE_WANT_LARGE_GAP_KEY]:  # before the index input is drawn
    st.session_state[INFERENCE_WANT_LARGE_GAP_KEY] = False
    scored_input.choose_point(find_large_gap(active, view))

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
        on_click=scored_input.choose_point,
        args=(clicked if clicked is not None else 0,),
    )  # fmt: skip
    st.button(
        "Show me a test point with a large approximation gap",
        key="inf_large_gap",
        icon=":material/travel_explore:",
        on_click=_want_large_gap,
        help=f"The largest log p(x) − ELBO(q*) among the first {LARGE_GAP_SAMPLE} test points, "
        "or word that none is large (computed once per model; the first time takes a while).",
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
write_url()  # the link shows this point and sample from the first visit on, not one rerun late
with st.spinner("Computing p(z|x) on a grid and searching for q*…"):
    if use_drawing:
        x_shown = np.asarray(drawn["x"], dtype=np.float32)
        x_scored = scored_example(active.metadata, x_shown, draw)
        point = input_inference(active, view, x_scored)
        name = "your drawing" if drawn.get("source") == "drawing" else drawn.get("name")
    else:
        x_shown = np.asarray(view.x[index])
        x_scored = scored_x(active, view, index, draw)
        point = point_inference(active, view, index, draw)

if use_drawing:
    posterior_panel(active, view, point, x_shown, x_scored, draw, input_name=name)
else:
    posterior_panel(active, view, point, x_shown, x_scored, draw, index=index)
estimator_panel(active, view, point, x_scored, draw)
test_set_panel(active, view, point, scored_input.choose_point)
if not presenter.is_on():
    scenes_expander(active)  # a scene here keeps the lab's point and binary sample too

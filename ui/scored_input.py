"""Which x the Inference lab scores (its test point and binary sample number: this module writes
both), shown as such, and the note beside numbers that are not
log-likelihoods, on any page (vae/scoring.py decides both).

A dynamically binarised model's likelihood is of binary images: the lab scores a binary sample
of the grey test image, numbered so that the same point and number give the same sample on any
machine, and shows it beside the grey original. A Bernoulli model trained on grey levels is
scored on the grey levels, with the note beside its numbers.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import presenter
from ui.active_model import ActiveModel
from ui.session_keys import INFERENCE_DRAW_KEY, INFERENCE_INDEX_KEY
from ui.view_link import MAX_DRAW
from vae.scoring import NOT_A_LIKELIHOOD_SHORT, not_a_likelihood, trained_binarized
from viz.plots import display_factor, to_png_bytes

PICTURE_PX = 84  # each picture's side: the page's x as it was, now two side by side


def choose_point(index: int) -> None:
    """Score test point `index` (the lab's point input, a button, a link or a scene)."""
    st.session_state[INFERENCE_INDEX_KEY] = int(index)


def choose_point_once(index: int) -> None:
    """Score test point `index` unless this session already chose one."""
    if INFERENCE_INDEX_KEY not in st.session_state:
        choose_point(index)


def choose_sample(draw: int) -> None:
    """Score binary sample number `draw` (a link or a scene)."""
    st.session_state[INFERENCE_DRAW_KEY] = int(draw)


def _next_draw() -> None:
    st.session_state[INFERENCE_DRAW_KEY] = (
        int(st.session_state.get(INFERENCE_DRAW_KEY, 0)) + 1
    ) % (MAX_DRAW + 1)


def sample_control(active: ActiveModel) -> int:
    """The number of the binary sample to score, with its "New sample" button, for a
    dynamically binarised model; 0 (and nothing drawn) for any other."""
    if not trained_binarized(active.metadata):
        return 0
    with st.container(horizontal=True, vertical_alignment="bottom"):
        draw = st.number_input(
            "Binary sample #", min_value=0, max_value=MAX_DRAW, step=1, key=INFERENCE_DRAW_KEY, width=140,
            help="This model's likelihood is of black-and-white images: it was trained on a "
            "fresh draw x ~ Bernoulli(pixel) each time an image was used. The lab scores one "
            "such draw of the grey image; the same point and number give the same draw.",
        )  # fmt: skip
        st.button("New sample", key="inf_new_sample", icon=":material/casino:", on_click=_next_draw)
    return int(draw)


def show_scored_x(
    active: ActiveModel, grey: np.ndarray, scored: np.ndarray, draw: int, shape
) -> None:
    """The x whose numbers are shown: the binary sample beside its grey original, or x."""
    factor = display_factor(shape, presenter.picture_px(PICTURE_PX))
    side = factor * max(shape)  # both at their own pixel size: a long caption must not stretch one
    if not trained_binarized(active.metadata):
        st.image(to_png_bytes(grey.reshape(shape), factor), caption="x", width=side,
                 output_format="PNG")  # fmt: skip
        return
    with st.container(horizontal=True):
        st.image(to_png_bytes(grey.reshape(shape), factor), caption="grey original", width=side,
                 output_format="PNG")  # fmt: skip
        st.image(to_png_bytes(scored.reshape(shape), factor), width=side, output_format="PNG",
                 caption=f"x scored: binary sample #{draw:d}")  # fmt: skip


def likelihood_note(active: ActiveModel, short: bool = False) -> None:
    """The note beside numbers that are not log-likelihoods; nothing when they are."""
    note = not_a_likelihood(active.metadata, active.dataset.x_test)
    if note is None:
        return
    if short:  # the whole note on hover
        st.caption(f":material/warning: {NOT_A_LIKELIHOOD_SHORT}", help=note)
    else:
        st.warning(note, icon=":material/warning:")


__all__ = ["likelihood_note", "sample_control", "show_scored_x"]

"""What a page checks before it draws: a model is open, and its latent space is a plane.
Each failure is a friendly message with the way on (and st.stop()), never an error page."""

from __future__ import annotations

import streamlit as st

from .active_model import ActiveModel, get_active_model
from .text import plain

# Pages that a "no model yet" message links to.
HOME_PAGE = "pages/home.py"
TRAIN_PAGE = "pages/train.py"
MODELS_PAGE = "pages/models.py"


def require_active_model() -> ActiveModel:
    """The active model, or a friendly pointer to where one comes from and st.stop()."""
    active = get_active_model()
    if active is not None:
        return active
    st.info(
        "No model yet. Use the quick start on Home (a few seconds on the built-in digits), "
        "train one, or load a saved model."
    )
    cols = st.columns(3)
    cols[0].page_link(HOME_PAGE, label="Quick start", icon=":material/bolt:")
    cols[1].page_link(TRAIN_PAGE, label="Train a model", icon=":material/model_training:")
    cols[2].page_link(MODELS_PAGE, label="Load a saved model", icon=":material/folder_open:")
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises; this keeps type checkers honest


def require_2d_model() -> ActiveModel:
    """The active model if its latent space can be drawn as a plane, else a message and st.stop().

    The CLI trains any latent size (`--latent-dim`) and a link may name such a model; pages
    that draw the latent plane share this one guard instead of failing on the shapes.
    """
    active = require_active_model()
    k = active.model.config.latent_dim
    if k != 2:
        st.info(
            f"“{plain(active.name)}” has a {k:d}-dimensional latent space; this page draws a "
            "2-D one. Pick a model with a 2-D latent space (the app trains only those), or "
            "look at this one's numbers on the Models page or with `python -m vae evaluate`."
        )
        st.page_link(MODELS_PAGE, label="Models", icon=":material/folder_open:")
        st.stop()
    return active

"""Interpolate: walk a path through latent space and watch the decoded image change."""

import streamlit as st

from ui.state import require_active_model

st.title("Interpolate")
active = require_active_model()
st.info("The interpolation tools are being built; the latent map already decodes any clicked z.")

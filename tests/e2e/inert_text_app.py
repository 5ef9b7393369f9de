"""A page that shows hostile strings through ui.text.plain() in every kind of Streamlit text
element; tests/e2e/test_inert_text_e2e.py renders it in Chromium and looks for links and images."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.hostile_text import HOSTILE_STRINGS  # noqa: E402
from ui.text import plain  # noqa: E402

for i, text in enumerate(HOSTILE_STRINGS):
    st.markdown(f"markdown {i}: {plain(text)}")
    st.caption(f"caption {i}: **{plain(text)}**")
    st.warning(f"warning {i}: “{plain(text)}”")
    st.button(f"button {i}: {plain(text)}", key=f"b{i}", help=f"help {plain(text)}")
    st.checkbox(f"checkbox {i}: {plain(text)}", key=f"c{i}")
st.markdown("rendered-all")

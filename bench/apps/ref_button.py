"""Reference for bench/click_latency.py: Streamlit's own button -> new image round trip.

The image is made the way the latent map's decode panel makes its pictures (an 8x8 array,
upscaled nearest-neighbour, sent as PNG), so that the two round trips differ only in what
triggers them.
"""

import sys
from pathlib import Path

import numpy as np
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ui.latent_images import to_image  # noqa: E402

if "ref_clicks" not in st.session_state:
    st.session_state["ref_clicks"] = 0
if st.button("New image", key="ref_new_image"):
    st.session_state["ref_clicks"] += 1
rng = np.random.default_rng(st.session_state["ref_clicks"])
st.image(to_image(rng.random(64), (8, 8)), output_format="PNG", caption="random 8x8")

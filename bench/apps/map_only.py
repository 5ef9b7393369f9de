"""Bench-only: one latent map, as the Latent map page builds it, for bench/bubbles_render.py.

BENCH_MAPS is a folder of <name>.npz files (mu, sigma, y). Query parameters choose the map:
?data=<name>&bubbles=off|1σ|2σ&svg_limit=<int>. Figures are cached per parameter set, so
a page load measures sending and drawing the map, not building it (reported separately).
"""

import os
import sys
from pathlib import Path

import numpy as np
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from viz.latent_map import SVG_BUBBLE_LIMIT, latent_map_figure  # noqa: E402


@st.cache_resource(max_entries=16)
def figure(data: str, bubbles: str, svg_limit: int):
    arrays = np.load(Path(os.environ["BENCH_MAPS"]) / f"{data}.npz")
    return latent_map_figure(
        arrays["mu"], arrays["sigma"], arrays["y"], bubbles=bubbles, svg_bubble_limit=svg_limit
    )


st.set_page_config(page_title="map bench", layout="wide")
params = st.query_params
fig = figure(
    params.get("data", "mnist10k"),
    params.get("bubbles", "off"),
    int(params.get("svg_limit", SVG_BUBBLE_LIMIT)),
)
st.plotly_chart(fig, key="map_chart", config={"displaylogo": False})

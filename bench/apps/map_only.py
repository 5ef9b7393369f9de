"""Bench-only: one latent map, as the Latent map page draws it, for bench/bubbles_render.py.

BENCH_MAPS is a folder of <name>.npz files (mu, sigma, y). Query parameters choose the map:
?data=<name>&bubbles=off|1σ|2σ. The figure and the bubbles' data are cached per parameter set,
so a page load measures sending and drawing the map, not building it.
"""

import os
import sys
from pathlib import Path

import numpy as np
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ui import selection  # noqa: E402
from ui.components.map_layer import map_layer  # noqa: E402
from ui.frozen_figure import FrozenFigure  # noqa: E402
from ui.session_keys import init_state  # noqa: E402
from viz.latent_map import bubble_data, latent_map_figure  # noqa: E402


@st.cache_resource(max_entries=16)
def arrays(data: str):
    return dict(np.load(Path(os.environ["BENCH_MAPS"]) / f"{data}.npz"))


@st.cache_resource(max_entries=16)
def figure(data: str):
    a = arrays(data)
    return FrozenFigure(latent_map_figure(a["mu"], a["sigma"], a["y"], height=640))


@st.cache_resource(max_entries=16)
def bubbles(data: str, k: str):
    a = arrays(data)
    return bubble_data(a["mu"], a["sigma"], a["y"], bubbles=k)


st.set_page_config(page_title="map bench", layout="wide")
init_state()
params = st.query_params
name, k = params.get("data", "mnist10k"), params.get("bubbles", "off")
st.plotly_chart(figure(name), key="map_chart", config={"displaylogo": False, "scrollZoom": True})
map_layer(
    "map_chart",
    key="map_layer",
    bubbles=bubbles(name, k),
    points=arrays(name)["mu"],
    clicked=selection.clicked(),
    on_click=selection.set_clicked,
)

"""Latent map: the test set's posterior means with their variance bubbles; click anywhere to decode."""

from __future__ import annotations

import streamlit as st

from ui.latent_panel import COLOR_CHOICES, cached_map_figure, decode_panel, read_map_click
from ui.state import latent_view, require_active_model

st.title("Latent map")
active = require_active_model()
view = latent_view(active)

controls = st.columns([2, 2, 1.4, 3])
color_by = controls[0].selectbox(
    "Colour by",
    [c for c in COLOR_CHOICES if c != "label" or view.y is not None],
    key="map_color_by",
    help="σ is the mean posterior standard deviation; KL is KL(q(z|x) ‖ N(0, I)) in nats.",
)
bubbles = controls[1].radio(
    "Variance bubbles", ["off", "1σ", "2σ"], index=1, horizontal=True, key="map_bubbles"
)
prior = controls[2].checkbox("Prior N(0, I)", value=False, key="map_prior")
controls[3].caption(
    f"{len(view.mu):,} test points. **Click anywhere** — on a point or on empty space — "
    "to decode that z. Drag to zoom, double-click to reset."
)

figure = cached_map_figure(active.key, view, color_by, bubbles, prior)


@st.fragment
def map_and_decode() -> None:
    """Chart + decode panel rerun together on a click; the controls above do not."""
    left, right = st.columns([3, 2], gap="medium")
    with left:
        event = st.plotly_chart(
            figure,
            key="map_chart",
            on_select="rerun",
            selection_mode="points",
            config={"scrollZoom": True, "displaylogo": False},
        )
        read_map_click(event, view)
    with right:
        decode_panel(active, view)


map_and_decode()

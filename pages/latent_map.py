"""Latent map: the test set's posterior means with their variance bubbles; click anywhere to decode."""

from __future__ import annotations

import streamlit as st

from ui.components.click_map import map_click
from ui.components.map_decoder import browser_decoder
from ui.latent_panel import COLOR_CHOICES, cached_map_figure, decode_panel, record_click
from ui.state import CLICKED_Z_KEY, latent_view, require_active_model

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


left, right = st.columns([3, 2], gap="medium")
with left:
    # Outside the fragment and identical on every run: a click never re-sends the figure,
    # and Plotly keeps the zoom.
    st.plotly_chart(figure, key="map_chart", config={"scrollZoom": True, "displaylogo": False})


@st.fragment
def decode_beside_the_map(picture_in_browser: bool) -> None:
    """A click on the map reruns only this: read the click, decode, show."""
    record_click(map_click("map_chart", st.session_state.get(CLICKED_Z_KEY), key="map_click"), view)
    decode_panel(active, view, picture_in_browser)


with right:
    # The clicked z's picture, drawn by the browser at the click (weights sent once, here,
    # outside the fragment); the fragment brings the rest of the panel.
    in_browser = browser_decoder(
        active.model,
        active.dataset.image_shape,
        "map_chart",
        st.session_state.get(CLICKED_Z_KEY),
        key="map_decoded",
    )
    decode_beside_the_map(in_browser)

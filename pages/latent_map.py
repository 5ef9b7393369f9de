"""Latent map: the test set's posterior means with their variance bubbles; click anywhere to decode."""

from __future__ import annotations

import streamlit as st

from ui.components.map_decoder import browser_decoder
from ui.components.map_layer import current_click, map_layer
from ui.latent_panel import (
    COLOR_CHOICES,
    MAP_ROW_CSS,
    cached_bubbles,
    cached_map_figure,
    clicked_samples,
    decode_panel,
)
from ui.state import MAP_WINDOW_KEY, latent_view, require_active_model

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
    "to decode that z. Drag to zoom, double-click to reset; hover a point to see its bubble."
)

# The bubbles are not in the figure: changing them never re-sends the map. The window the
# browser last reported is applied, so a new colouring keeps the zoom.
figure = cached_map_figure(active.key, view, color_by, prior, st.session_state.get(MAP_WINDOW_KEY))
bubble_layer = cached_bubbles(active.key, view, color_by, bubbles)

st.html(MAP_ROW_CSS)
with st.container(key="map_row"):
    left, right = st.columns([7, 3], gap="medium")
with left:
    # Outside the fragment: a click never re-sends the figure, and Plotly keeps the zoom.
    # A double-click shows all the data (autorange), not the window the figure was drawn at.
    config = {"scrollZoom": True, "displaylogo": False, "doubleClick": "autosize"}
    st.plotly_chart(figure, key="map_chart", config=config)


@st.fragment
def decode_beside_the_map(picture_in_browser: bool) -> None:
    """A click on the map reruns only this: the layer hands over the click, the panel decodes."""
    click, _ = map_layer(
        "map_chart",
        key="map_layer",
        bubbles=bubble_layer,
        points=view.mu,
        samples=lambda c: clicked_samples(view, c),
        window_key=MAP_WINDOW_KEY,
    )
    decode_panel(active, view, click, picture_in_browser)


with right:
    # The clicked z's picture, drawn by the browser at the click (weights sent once, here,
    # outside the fragment); the fragment brings the rest of the panel.
    clicked = current_click()
    in_browser = browser_decoder(
        active.model,
        active.dataset.image_shape,
        "map_chart",
        clicked.z if clicked is not None else None,
        key="map_decoded",
    )
    decode_beside_the_map(in_browser)

"""Latent map: the test set's posterior means with their variance bubbles; click anywhere to decode."""

from __future__ import annotations

import streamlit as st

from ui import presenter, selection
from ui.components.click_panel import NOTICE_DELAY_MS, browser_panel
from ui.components.map_decoder import browser_decoder
from ui.components.map_layer import map_layer
from ui.guards import require_2d_model
from ui.latent_images import DISPLAY_PIXELS
from ui.latent_panel import (
    MAP_HEIGHT,
    N_SAMPLES,
    cached_bubbles,
    cached_map_figure,
    clicked_samples,
    decode_panel,
    sample_seed,
    set_sample_seed,
)
from ui.map_controls import map_options
from ui.page_style import stack_columns_when_narrow
from ui.scene_panel import scenes_expander
from ui.scored_input import likelihood_note
from ui.script_thread import fragment
from ui.view_cache import latent_view
from viz.latent_map import framed_window

if not presenter.is_on():  # on a projector the map needs the room
    st.title("Latent map")
active = require_2d_model()
view = latent_view(active)

color_by, bubbles, prior = map_options(view)

# The bubbles are not in the figure (only whether they are shown: the points shrink under
# them). The window the browser last reported is applied, so a new colouring keeps the zoom;
# on a projector the map opens framed on the data, in a column as wide as they need.
framed = framed_window(view.mu)
window = selection.window() or (framed if presenter.is_on() else None)
figure = cached_map_figure(active.key, view, color_by, prior, window, bubbles != "off")
bubble_layer = cached_bubbles(active.key, view, color_by, bubbles)
map_height = presenter.map_height(MAP_HEIGHT)

stack_columns_when_narrow("map_row")
with st.container(key="map_row"):
    aspect = (framed[1] - framed[0]) / (framed[3] - framed[2])
    left, right = st.columns(presenter.map_columns(aspect, map_height), gap="medium")
with left:
    # Outside the fragment: a click never re-sends the figure, and Plotly keeps the zoom.
    # A double-click shows all the data (autorange), not the window the figure was drawn at.
    # On a projector the map is the window's height under its controls (presenter.map_height).
    config = {"scrollZoom": True, "displaylogo": False, "doubleClick": "autosize"}
    shown = presenter.map_chart(figure, height=map_height)
    st.plotly_chart(shown, key="map_chart", config=config)
    if color_by == "reconstruction error":  # −log p(x|z=μ): a likelihood only of binary x
        likelihood_note(active, short=True)


@fragment
def decode_beside_the_map(picture_in_browser: bool, panel_in_browser: bool) -> None:
    """A click on the map reruns only this: the layer hands over the click, the panel decodes.
    With the panel in the browser, the click arrives later (a notice) and nothing is drawn."""
    click, _ = map_layer(
        "map_chart",
        key="map_layer",
        bubbles=bubble_layer,
        points=view.mu,
        clicked=selection.clicked(),
        on_click=selection.set_clicked,
        samples=lambda c: clicked_samples(view, c),
        on_window=selection.set_window,
        notice_ms=NOTICE_DELAY_MS if panel_in_browser else 0,
    )
    if not panel_in_browser:
        decode_panel(active, view, click, picture_in_browser)


with right:
    # The clicked z's picture, drawn by the browser at the click (weights sent once, here,
    # outside the fragment); the fragment brings the rest of the panel, beside the picture on
    # a projector (under it, the ε strip would fall below the window).
    picture_area, panel_area = st.columns(2) if presenter.is_on() else (st.container(),) * 2
    clicked = selection.clicked()
    with picture_area:
        in_browser = browser_decoder(
            active.model,
            active.dataset.image_shape,
            "map_chart",
            clicked.z if clicked is not None else None,
            key="map_decoded",
            pixels=presenter.picture_px(DISPLAY_PIXELS),
        )
    with panel_area:
        # The whole panel in the browser when it can run the decoder and hold the pictures
        # (ui/components/click_panel.py); else the fragment's server panel.
        panel_in_browser = in_browser and browser_panel(
            active, view, "map_chart", clicked, key="map_click_panel",
            seed=sample_seed(), n_samples=N_SAMPLES, on_seed=set_sample_seed,
            pixels=presenter.picture_px(DISPLAY_PIXELS),
        )  # fmt: skip
        decode_beside_the_map(in_browser, panel_in_browser)

if not presenter.is_on():
    scenes_expander(active)

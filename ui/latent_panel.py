"""Latent-map glue: the cached map figure and bubbles, and the decode panel beside the map.

The map figure must stay *identical* across clicks: a changed figure is sent and drawn again
(60k points: seconds). So the figure is built once per (model, colour, prior) and everything
that changes with a click lives beside it, never in it: the bubbles, the clicked z, its
bubble and samples are drawn by the browser (ui/components/web/map_layer.js), the clicked z's
picture too (ui/components/web/map_decoder.js); the rest of the panel comes from here.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import presenter
from ui.active_model import ActiveModel
from ui.colourings import colour_key, colour_values
from ui.components.map_layer import MapClick
from ui.frozen_figure import FrozenFigure
from ui.inference_lab import latest_gap_sample
from ui.latent_images import DISPLAY_PIXELS, show_vector, strip_image
from ui.session_keys import SAMPLE_SEED_KEY
from ui.text import plain
from ui.view_cache import LatentView
from vae.latent import decode_latents
from viz.latent_map import BubbleData, bubble_data, latent_map_figure

N_SAMPLES = 6  # decodes of z = mu + sigma * eps shown for a clicked data point
MAP_HEIGHT = 640  # px: the map fills its column's width at any height (equal units, wider range)


def point_label(view: LatentView, index: int) -> str:
    """' · <class name>' or ' · label <value>' for test point `index` (escaped for Markdown:
    names come from the user's data), or '' when the data have no labels."""
    if view.y is None:
        return ""
    value = view.y[index]
    if view.class_names is not None and view.label_kind == "class":
        return f" · {plain(view.class_names[int(value)])}"
    return f" · label {plain(value)}"


def cached_map_figure(
    model_key: str,
    view: LatentView,
    color_by: str,
    prior: bool,
    window: list[float] | None,
    under_bubbles: bool = False,
) -> go.Figure:
    """The map figure for these options, built once per view, showing `window` (None: all).
    Under bubbles its points are dots at the bubbles' centres (viz.latent_map.marker_size).

    Kept with the view: a saved model's view is shared by every session (ui.view_cache.latent_view),
    so its figures are built once per server, not once per session. The window only changes
    the axes' ranges (and the uirevision, so that Plotly applies them): a copy of the frozen
    figure's layout, not a rebuild. The bubbles are not in it (see cached_bubbles).
    """

    gaps = latest_gap_sample(view)

    def build() -> go.Figure:
        values, kind, label = colour_values(view, color_by, gaps)
        figure = latent_map_figure(
            view.mu,
            view.sigma,
            values,
            color_kind=kind,
            class_names=view.class_names,
            color_label=label,
            prior_contours=prior,
            under_bubbles=under_bubbles,
            height=MAP_HEIGHT,
        )
        return FrozenFigure(figure)  # shown on every run of the page: serialised once

    key = ("map", model_key, colour_key(color_by, gaps), prior, under_bubbles)
    base = view.derived(key, build)
    return base if window is None else base.with_window(window)


def cached_bubbles(
    model_key: str, view: LatentView, color_by: str, bubbles: str
) -> BubbleData | None:
    """The bubbles' data for these options (coloured as the points are), once per view."""

    gaps = latest_gap_sample(view)

    def build() -> BubbleData | None:
        values, kind, _ = colour_values(view, color_by, gaps)
        return bubble_data(view.mu, view.sigma, values, color_kind=kind, bubbles=bubbles)

    return view.derived(("bubbles", model_key, colour_key(color_by, gaps), bubbles), build)


def epsilon(seed: int, index: int, count: int = N_SAMPLES) -> np.ndarray:
    """(count, 2) draws of eps ~ N(0, I) for test point `index` under sample seed `seed`.

    The browser's click panel draws the same numbers (ui/components/click_panel.js `epsilon`),
    so the one spelled-out generator is: mulberry32 seeded with (seed * 100003 + index) mod
    2^32, two uint32 draws u1, u2 -> (u + 0.5) / 2^32 each, Box-Muller
    (r cos 2 pi u2, r sin 2 pi u2) with r = sqrt(-2 ln u1).
    """
    state = (seed * 100_003 + index) % 2**32
    mask = 0xFFFFFFFF

    def draw() -> float:
        nonlocal state
        state = (state + 0x6D2B79F5) & mask
        t = state
        t = ((t ^ (t >> 15)) * (t | 1)) & mask
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & mask)) & mask
        return ((t ^ (t >> 14)) + 0.5) / 2**32

    eps = np.empty((count, 2))
    for row in eps:
        u1, u2 = draw(), draw()
        r = math.sqrt(-2.0 * math.log(u1))
        row[:] = r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)
    return eps


def sample_seed() -> int:
    return int(st.session_state.get(SAMPLE_SEED_KEY, 0))


def set_sample_seed(seed: int) -> None:
    """New ε, pressed in the browser's click panel (its ε are drawn with this seed)."""
    st.session_state[SAMPLE_SEED_KEY] = int(seed)


def clicked_samples(view: LatentView, click: MapClick | None) -> np.ndarray | None:
    """(N_SAMPLES, 2) z = mu + sigma * eps for a clicked data point (None: not a data point).

    The same eps for the same point and seed: the map draws them, the panel decodes them.
    """
    if click is None or click.index is None or not 0 <= click.index < len(view.mu):
        return None
    eps = epsilon(sample_seed(), click.index)
    return view.mu[click.index] + view.sigma[click.index] * eps  # the reparameterisation


def decode_panel(
    active: ActiveModel,
    view: LatentView,
    click: MapClick | None,
    picture_in_browser: bool = False,
) -> None:
    """What the clicked z is: for a data point also its x and decodes of mu + sigma*eps.

    picture_in_browser: the decoded picture of z is already drawn above by the browser
    (ui.components.map_decoder), so it is not sent again; otherwise it is the panel's first picture.
    Both kinds of click lay out the same first elements (a header, then a picture), so the
    page does not reflow between them; the samples of a data point are one strip image.
    """
    shape = active.dataset.image_shape
    pixels = presenter.picture_px(DISPLAY_PIXELS)
    if click is None:
        if not picture_in_browser:  # else the browser's placeholder above says it
            st.info("Click anywhere on the map: the decoded image for that z appears here.")
        return
    z = np.asarray(click.z, dtype=np.float32).reshape(2)
    samples = clicked_samples(view, click)
    if samples is None:
        st.markdown(f"**z = ({z[0]:.3f}, {z[1]:.3f})** · empty space or a chosen point")
        imagined = "No example was encoded here: this is what the decoder imagines at z."
        if picture_in_browser:
            st.caption(imagined.replace("this is", "the picture above is"))
            return
        left, right = st.columns(2)
        with left:
            show_vector(decode_latents(active.model, z[None])[0], shape, "decoded E[x | z]", pixels)
        right.caption(imagined)
        return

    index = int(click.index)
    mu, sigma = view.mu[index], view.sigma[index]
    seed = sample_seed()
    decoded = decode_latents(active.model, np.vstack([mu[None], samples]))  # (1 + S, D)
    st.markdown(
        f"**test point #{index}**{point_label(view, index)}  \nμ = ({mu[0]:.3f}, {mu[1]:.3f}) · "
        f"σ = ({sigma[0]:.3f}, {sigma[1]:.3f}) · KL {view.kl[index]:.2f} nats"
    )
    if picture_in_browser:  # decoded from mu: the picture above
        show_vector(view.x[index], shape, "original x (above: decoded from μ)")
    else:
        left, right = st.columns(2)
        with left:
            show_vector(decoded[0], shape, "decoded from μ", pixels)
        with right:
            show_vector(view.x[index], shape, "original x", pixels)
    st.caption(
        "z = μ + σ ⊙ ε, ε ~ N(0, I): the reparameterisation, decoded (the orange dots in the "
        "bubble on the map)"
    )
    where = " · ".join(f"({a:.2f}, {b:.2f})" for a, b in samples)
    if shape is not None:
        strip = strip_image(decoded[1:], shape, pixels=max(56, pixels // 4))
        st.image(strip, caption=where, output_format="PNG")
    else:
        for x, s in zip(decoded[1:], samples, strict=True):
            show_vector(x, None, f"({s[0]:.2f}, {s[1]:.2f})")
    if st.button("New ε", key="map_resample", icon=":material/casino:"):
        st.session_state[SAMPLE_SEED_KEY] = seed + 1
        st.rerun(scope="fragment")

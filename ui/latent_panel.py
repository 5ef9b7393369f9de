"""Latent-map glue: the cached map figure, reading a click, and the decode panel beside the map.

The map figure must stay *identical* across clicks: Streamlit derives the chart's identity from
its spec, so a changed figure remounts the chart (zoom lost, every second selection swallowed).
So the figure is built once per (model, options) and the clicked marker and the decoded images
live beside it, never in the figure: the marker and the clicked z's picture are drawn by the
browser (ui/components/click_map.js, ui/components/map_decoder.js), the rest of the panel comes from here.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui.components.click_map import MapClick
from ui.frozen_figure import FrozenFigure
from ui.latent_images import show_vector, strip_image
from ui.state import CLICKED_INDEX_KEY, CLICKED_Z_KEY, ActiveModel, LatentView
from vae.latent import decode_latents
from viz.latent_map import latent_map_figure

COLOR_CHOICES = ("label", "σ (posterior std)", "KL to prior", "reconstruction error")
SAMPLE_SEED_KEY = "vx_map_sample_seed"
N_SAMPLES = 6  # decodes of z = mu + sigma * eps shown for a clicked data point


def color_values(view: LatentView, color_by: str):
    """(values (N,) or None, color_kind, legend title) for a "Colour by" choice."""
    if color_by == "label" and view.y is not None:
        kind = "class" if view.label_kind == "class" else "continuous"
        return view.y, kind, "label"
    if color_by == "σ (posterior std)":
        return view.sigma.mean(1), "continuous", "mean σ"
    if color_by == "KL to prior":
        return view.kl, "continuous", "KL (nats)"
    if color_by == "reconstruction error":
        return view.recon_nll, "continuous", "−log p(x|z=μ) (nats)"
    return None, None, "points"


def cached_map_figure(
    model_key: str, view: LatentView, color_by: str, bubbles: str, prior: bool
) -> go.Figure:
    """The map figure for these options, built once per view (same object after).

    Kept with the view: a saved model's view is shared by every session (ui.state.latent_view),
    so its figures are built once per server, not once per session.
    """

    def build() -> go.Figure:
        values, kind, label = color_values(view, color_by)
        figure = latent_map_figure(
            view.mu,
            view.sigma,
            values,
            color_kind=kind,
            class_names=view.class_names,
            color_label=label,
            bubbles=bubbles,
            prior_contours=prior,
        )
        return FrozenFigure(figure)  # shown on every run of the page: serialised once

    return view.derived(("map", model_key, color_by, bubbles, prior), build)


def record_click(click: MapClick | None, view: LatentView) -> bool:
    """Store a click as vx_clicked_z / vx_clicked_index; returns whether there was one.

    A click on a data point decodes exactly that point's mean mu (the browser only knows the
    float32 position it drew); anything else is empty space at the exact clicked z.
    """
    if click is None:
        return False
    z, index = click.z, click.index
    if index is not None and 0 <= index < len(view.mu):
        z = (float(view.mu[index, 0]), float(view.mu[index, 1]))
    else:
        index = None
    st.session_state[CLICKED_Z_KEY] = z
    st.session_state[CLICKED_INDEX_KEY] = index
    return True


def decode_panel(active: ActiveModel, view: LatentView, picture_in_browser: bool = False) -> None:
    """What the clicked z is: for a data point also its x and decodes of mu + sigma*eps.

    picture_in_browser: the decoded picture of z is already drawn above by the browser
    (ui.components.map_decoder), so it is not sent again; otherwise it is the panel's first picture.
    Both kinds of click lay out the same first elements (a header, then a picture), so the
    page does not reflow between them; the samples of a data point are one strip image.
    """
    z = st.session_state.get(CLICKED_Z_KEY)
    index = st.session_state.get(CLICKED_INDEX_KEY)
    shape = active.dataset.image_shape
    if z is None:
        st.info("Click anywhere on the map: the decoded image for that z appears here.")
        return
    z = np.asarray(z, dtype=np.float32).reshape(2)
    point = index is not None and 0 <= int(index) < len(view.mu)
    if not point:
        st.markdown(f"**z = ({z[0]:.3f}, {z[1]:.3f})** · empty space or a chosen point")
        imagined = "No example was encoded here: this is what the decoder imagines at z."
        if picture_in_browser:
            st.caption(imagined.replace("this is", "the picture above is"))
            return
        left, right = st.columns(2)
        with left:
            show_vector(decode_latents(active.model, z[None])[0], shape, "decoded E[x | z]")
        right.caption(imagined)
        return

    index = int(index)
    mu, sigma = view.mu[index], view.sigma[index]
    seed = st.session_state.get(SAMPLE_SEED_KEY, 0)
    eps = np.random.default_rng(seed * 100_003 + index).standard_normal((N_SAMPLES, 2))
    samples = mu + sigma * eps  # (S, 2): the reparameterisation z = mu + sigma * eps
    decoded = decode_latents(active.model, np.vstack([mu[None], samples]))  # (1 + S, D)
    label = ""
    if view.y is not None:
        value = view.y[index]
        label = f" · label {value}"
        if view.class_names is not None and view.label_kind == "class":
            label = f" · {view.class_names[int(value)]}"
    st.markdown(
        f"**test point #{index}**{label}  \nμ = ({mu[0]:.3f}, {mu[1]:.3f}) · "
        f"σ = ({sigma[0]:.3f}, {sigma[1]:.3f}) · KL {view.kl[index]:.2f} nats"
    )
    if picture_in_browser:  # decoded from mu: the picture above
        show_vector(view.x[index], shape, "original x (above: decoded from μ)")
    else:
        left, right = st.columns(2)
        with left:
            show_vector(decoded[0], shape, "decoded from μ")
        with right:
            show_vector(view.x[index], shape, "original x")
    st.caption("z = μ + σ ⊙ ε, ε ~ N(0, I): the reparameterisation, decoded")
    where = " · ".join(f"({a:.2f}, {b:.2f})" for a, b in samples)
    if shape is not None:
        st.image(strip_image(decoded[1:], shape, pixels=64), caption=where, output_format="PNG")
    else:
        for x, s in zip(decoded[1:], samples, strict=True):
            show_vector(x, None, f"({s[0]:.2f}, {s[1]:.2f})")
    if st.button("New ε", key="map_resample", icon=":material/casino:"):
        st.session_state[SAMPLE_SEED_KEY] = seed + 1
        st.rerun(scope="fragment")

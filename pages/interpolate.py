"""Interpolate: walk a path through latent space and watch the decoded image change."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui.components.scrubber import scrubber
from ui.guards import require_2d_model
from ui.interp_panel import (
    animation_gif,
    model_cache_key,
    path_key,
    path_map,
    scrub_data,
    seed_default_path,
    strip_frames,
    waypoint_builder,
)
from ui.latent_images import show_vector
from ui.view_cache import latent_view
from viz.export import LABEL_CHARS

st.title("Interpolate")
active = require_2d_model()
view = latent_view(active)
seed_default_path(active, view)

cols = st.columns([2, 3])
mode = cols[0].radio(
    "Path",
    ["linear", "spherical"],
    horizontal=True,
    key="interp_mode",
    help="Spherical (slerp) follows a great circle, keeping to the prior's typical shell.",
)
n_frames = cols[1].slider("Frames in the strip", 3, 16, 8, key="interp_frames")
st.caption(
    "Waypoints: add the z you clicked on the Latent map, a test point, click the map below, "
    "or edit the table."
)
points = np.asarray(waypoint_builder(view), dtype=np.float64).reshape(-1, 2)
left, right = st.columns([1, 1], gap="medium")
with left:  # drawn with or without a path: a click on it adds a waypoint, even after Clear
    st.subheader("The path on the latent map")
    path_map(active, view)
if len(points) < 2:
    right.info(
        "Click the map (or add a waypoint above) until there are two waypoints: "
        "the path between them is drawn here."
    )
    st.stop()

model_key, path = model_cache_key(active), path_key(points)
shape = active.dataset.image_shape
with right:
    st.subheader("Scrub along the path")
    st.caption(
        "Drag the slider (or focus it and use the arrow keys): the decoded image follows "
        "as you drag, in your browser. The red ring marks z on both maps."
    )
    scrubber(scrub_data(model_key, view.token, path, mode, active, view), key="interp_scrub")

st.subheader(f"{n_frames:d} frames along the path")
label = ""
if shape is not None:
    label = st.text_input(
        "Label on the strip and the animation (optional)",
        key="interp_label",
        max_chars=LABEL_CHARS,
        placeholder="e.g. Sneaker → Ankle boot",
    )
frames_z, frames_x, strip = strip_frames(model_key, path, mode, n_frames, active, label)
if strip is not None:
    st.image(strip, output_format="PNG")
    st.caption(
        "t is the distance along the path (0 at the first waypoint, 1 at the last): "
        + " → ".join(f"({a:.2f}, {b:.2f})" for a, b in frames_z)
    )
    dl = st.columns(2)
    dl[0].download_button(
        "Download the strip (PNG)",
        strip,
        file_name="interpolation.png",
        mime="image/png",
        key="interp_download_png",
        icon=":material/download:",
        on_click="ignore",  # a download changes nothing on the page: no rerun
    )
    dl[1].download_button(
        "Download the animation (GIF)",
        lambda: animation_gif(model_key, path, mode, active, label),  # built on click, cached
        file_name="interpolation.gif",
        mime="image/gif",
        key="interp_download_gif",
        icon=":material/animation:",
        on_click="ignore",
    )
else:
    for col, x, z in zip(st.columns(n_frames), frames_x, frames_z, strict=True):
        with col:
            show_vector(x, None, f"({z[0]:.2f}, {z[1]:.2f})")

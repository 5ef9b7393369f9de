"""Interpolate-page glue: the waypoints (the path of ui/selection.py) and their decoded frames.

What a path costs (decoding, encoding the pictures, the strip, the GIF) is computed once per
(model, waypoints, mode) for the whole server, not per session or per rerun: thirty sessions
opening the same model's default path share one result, and the map under the path is built
once per model. Keys start with the model's key plus the id of its (never mutated) model
object and the data's image shape, so two models that happen to share a key never share
frames; what also shows test points (the mini map, the map under the path) is keyed by the
latent view's token too, so a session's uploaded data is never shown to another session.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui import presenter, selection
from ui.active_model import ActiveModel
from ui.components.map_layer import map_layer
from ui.components.scrubber import ScrubFrames, build_frames, scrub_payload
from ui.frozen_figure import FrozenFigure
from ui.session_keys import INTERP_SEEDED_KEY
from ui.view_cache import LatentView
from vae.latent import decode_latents, interpolation_path
from viz.export import interpolation_gif, interpolation_strip_png
from viz.latent_map import latent_map_figure

SCRUB_STEPS = 101  # frames of the scrubber: t = 0, 0.01, ..., 1
GIF_EVERY = 2  # the GIF takes every 2nd scrubber frame (51 frames, ~2.5 s each way)
MAP_KEY = "interp_map"  # the chart the scrubber draws the path on
CACHE_ENTRIES = 64  # per cache; an entry is a few hundred kB at most (MNIST: 101 x 784 floats)

Waypoints = tuple[tuple[float, float], ...]  # hashable: part of the cache keys


def seed_default_path(active: ActiveModel, view: LatentView) -> None:
    """First visit with this model and no path: offer one across the map.

    With class labels: from the most typical example of one class (nearest its class mean) to
    that of the class whose mean is farthest away, so that the morph crosses the map.
    """
    if st.session_state.get(INTERP_SEEDED_KEY) == active.key or selection.path():
        return
    st.session_state[INTERP_SEEDED_KEY] = active.key
    if len(view.mu) < 2:
        return
    if view.y is not None and view.label_kind == "class" and len(np.unique(view.y)) > 1:
        classes = np.unique(view.y)
        centres = np.stack([view.mu[view.y == c].mean(0) for c in classes])  # (C, 2)
        gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)  # (C, C)
        a, b = np.unravel_index(np.argmax(gaps), gaps.shape)
        ends = []
        for c, centre in ((classes[a], centres[a]), (classes[b], centres[b])):
            members = np.flatnonzero(view.y == c)
            ends.append(
                view.mu[members[np.argmin(np.linalg.norm(view.mu[members] - centre, axis=1))]]
            )
        selection.set_path(ends)
    else:  # the two points farthest apart along the first latent axis
        selection.set_path(view.mu[[np.argmin(view.mu[:, 0]), np.argmax(view.mu[:, 0])]])


def waypoint_builder(view: LatentView) -> list[tuple[float, float]]:
    """Buttons that add waypoints (clicked z, a test point, a random pair) and an editable table;
    returns the waypoints as they stand after this run's edits."""
    click = selection.clicked()
    clicked = click.z if click is not None else None
    label = "Add z clicked on the Latent map"
    if clicked is not None:
        label = f"Add clicked z ({clicked[0]:.2f}, {clicked[1]:.2f})"
    # A row that wraps: each button as wide as its label, so none is cut off in a narrow window.
    with st.container(horizontal=True, vertical_alignment="center"):
        if st.button(label, key="interp_add_clicked", disabled=clicked is None):
            selection.set_path([*selection.path(), clicked])
        index = st.number_input(
            "Test point #",
            min_value=0,
            max_value=len(view.mu) - 1,
            value=int(click.index or 0) if click is not None else 0,
            step=1,
            key="interp_index",
            label_visibility="collapsed",
            width=120,
        )
        if st.button(f"Add test point #{index:d}", key="interp_add_index"):
            selection.set_path([*selection.path(), view.mu[int(index)]])
        if st.button("Random pair", key="interp_random", icon=":material/shuffle:"):
            rng = np.random.default_rng()
            selection.set_path(view.mu[rng.choice(len(view.mu), size=2, replace=False)])
        if st.button("Clear", key="interp_clear"):
            selection.set_path([])

    table = pd.DataFrame(selection.path(), columns=["z1", "z2"], dtype=float)
    edited = st.data_editor(
        table,
        key=f"interp_table_{len(table)}_{hash(tuple(map(tuple, table.values.tolist())))}",
        num_rows="dynamic",
        width="stretch",
        column_config={
            "z1": st.column_config.NumberColumn("z₁", format="%.3f", required=True),
            "z2": st.column_config.NumberColumn("z₂", format="%.3f", required=True),
        },
    )
    rows = edited.dropna().to_numpy(dtype=float)
    if rows.shape != table.shape or not np.allclose(rows, table.to_numpy(dtype=float)):
        selection.set_path(rows)
        st.rerun()
    return selection.path()


def model_cache_key(active: ActiveModel) -> str:
    """The active model's key, its object's id (unique among models alive in this server)
    and the image shape its pictures are drawn at."""
    return f"{active.key}#{id(active.model)}#{active.dataset.image_shape}"


def path_key(points: np.ndarray) -> Waypoints:
    return tuple(
        (float(a), float(b)) for a, b in np.asarray(points, dtype=np.float64).reshape(-1, 2)
    )


@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def scrub_frames(
    model_key: str, points: Waypoints, mode: str, _active: ActiveModel, steps: int = SCRUB_STEPS
) -> ScrubFrames:
    """The decoded path, encoded for the browser: once per (model, waypoints, mode, steps)."""
    z = interpolation_path(np.asarray(points), steps, mode)  # (S, 2)
    return build_frames(z, decode_latents(_active.model, z), _active.dataset.image_shape)


@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def scrub_data(
    model_key: str,
    view_token: str,
    points: Waypoints,
    mode: str,
    _active: ActiveModel,
    _view: LatentView,
) -> dict:
    """The scrubber component's payload (frames + mini map), shared read-only by sessions."""
    frames = scrub_frames(model_key, points, mode, _active)
    return scrub_payload(
        frames, np.asarray(points), _view.mu, _view.y, _view.label_kind, map_key=MAP_KEY
    )


@st.cache_resource(max_entries=CACHE_ENTRIES, show_spinner=False)
def strip_frames(
    model_key: str, points: Waypoints, mode: str, k: int, _active: ActiveModel, label: str = ""
) -> tuple[np.ndarray, np.ndarray, bytes | None]:
    """K frames along the path: (z (K, 2), decoded (K, D), the strip as PNG bytes or None:
    slide-sized, each frame's t under it, `label` over it). The frames are equally spaced
    along the path, so frame i is at t = i / (K - 1)."""
    z = interpolation_path(np.asarray(points), k, mode)
    decoded = decode_latents(_active.model, z)
    shape = _active.dataset.image_shape
    ts = np.linspace(0.0, 1.0, k)
    strip = interpolation_strip_png(decoded, ts, shape, label) if shape is not None else None
    return z, decoded, strip


@st.cache_resource(max_entries=16, show_spinner=False)  # ~3 MB each (512 px frames)
def animation_gif(
    model_key: str, points: Waypoints, mode: str, _active: ActiveModel, label: str = ""
) -> bytes:
    """The scrubber's frames as a looping, slide-sized GIF with their t values and `label`;
    only built when someone downloads it."""
    frames = scrub_frames(model_key, points, mode, _active)
    ts = np.linspace(0.0, 1.0, len(frames.decoded))  # equally spaced along the path
    shape = _active.dataset.image_shape
    return interpolation_gif(frames.decoded[::GIF_EVERY], ts[::GIF_EVERY], shape, label)


@st.cache_resource(max_entries=8, show_spinner=False)
def path_map_figure(model_key: str, view_token: str, _view: LatentView) -> go.Figure:
    """The latent map under the path: one per model, whatever the path.

    The path, its waypoints and the scrubber's position are drawn over it in the browser by
    the scrubber component (ui/components/web/scrubber.js), in the chart's own axes. So a new path neither
    rebuilds this figure (~250 ms at 10k points) nor makes the browser redraw it, and zoom is
    kept. Shared read-only, and serialised once (ui/frozen_figure.py).
    """
    y, kind = _view.y, ("class" if _view.label_kind == "class" else "continuous")
    if _view.y is None:
        y, kind = None, None
    fig = latent_map_figure(
        _view.mu,
        _view.sigma,
        y,
        color_kind=kind,
        class_names=_view.class_names,
        height=560,  # the legend's rows below the plot: the plot keeps the Latent map's size
    )
    return FrozenFigure(fig)  # shown on every run of the page: serialised once


def path_map(active: ActiveModel, view: LatentView) -> None:
    """The latent map the path is drawn on; a click anywhere appends a waypoint."""
    fig = path_map_figure(model_cache_key(active), view.token, view)
    st.plotly_chart(
        presenter.chart(fig), key=MAP_KEY, config={"displaylogo": False, "scrollZoom": True}
    )
    click, fresh = map_layer(
        MAP_KEY,
        key="interp_map_click",
        points=view.mu,
        clicked=selection.clicked(),
        on_click=selection.set_clicked,
    )
    if fresh and click is not None:
        selection.set_path([*selection.path(), click.z])
        st.rerun()

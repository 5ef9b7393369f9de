"""Interpolate-page glue: building the waypoint list (vx_path) and the cached path figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui.click_map import map_click
from ui.latent_panel import record_click
from ui.state import CLICKED_INDEX_KEY, CLICKED_Z_KEY, PATH_KEY, ActiveModel, LatentView
from vae.latent import decode_latents, interpolation_path
from vae.latent_figure import latent_map_figure, path_overlay_traces, scrub_figure

FIGURES_KEY = "vx_interp_figures"  # {(model key, path, ...): figure}, a few recent ones
SEEDED_KEY = "vx_interp_seeded"  # model key whose default path was already offered
SCRUB_STEPS = 60  # frames of the client-side scrubber
BACKGROUND_POINTS = 150  # a faint sample of means behind the path: every frame redraws them
# (1,500 made a frame ~250 ms in a software-rendered Chromium; bench/scrub.py)


def _remember(key: tuple, build) -> go.Figure:
    figures = st.session_state.setdefault(FIGURES_KEY, {})
    if key not in figures:
        figures[key] = build()
        while len(figures) > 6:
            figures.pop(next(iter(figures)))
    return figures[key]


def waypoints() -> list[tuple[float, float]]:
    return [tuple(map(float, p)) for p in st.session_state.get(PATH_KEY) or []]


def set_waypoints(points) -> None:
    st.session_state[PATH_KEY] = [(float(a), float(b)) for a, b in points]


def seed_default_path(active: ActiveModel, view: LatentView) -> None:
    """First visit with this model and no path: offer one across the map.

    With class labels: from the most typical example of one class (nearest its class mean) to
    that of the class whose mean is farthest away, so that the morph crosses the map.
    """
    if st.session_state.get(SEEDED_KEY) == active.key or waypoints():
        return
    st.session_state[SEEDED_KEY] = active.key
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
        set_waypoints(ends)
    else:  # the two points farthest apart along the first latent axis
        set_waypoints(view.mu[[np.argmin(view.mu[:, 0]), np.argmax(view.mu[:, 0])]])


def waypoint_builder(view: LatentView) -> None:
    """Buttons that add waypoints (clicked z, a test point, a random pair) and an editable table."""
    clicked = st.session_state.get(CLICKED_Z_KEY)
    cols = st.columns([2.2, 1.2, 1.6, 1.6, 1])
    label = "Add z clicked on the Latent map"
    if clicked is not None:
        label = f"Add clicked z ({clicked[0]:.2f}, {clicked[1]:.2f})"
    if cols[0].button(label, key="interp_add_clicked", disabled=clicked is None):
        set_waypoints([*waypoints(), clicked])
    index = cols[1].number_input(
        "Test point #",
        min_value=0,
        max_value=len(view.mu) - 1,
        value=int(st.session_state.get(CLICKED_INDEX_KEY) or 0),
        step=1,
        key="interp_index",
        label_visibility="collapsed",
    )
    if cols[2].button(f"Add test point #{index}", key="interp_add_index"):
        set_waypoints([*waypoints(), view.mu[int(index)]])
    if cols[3].button("Random pair", key="interp_random", icon=":material/shuffle:"):
        rng = np.random.default_rng()
        set_waypoints(view.mu[rng.choice(len(view.mu), size=2, replace=False)])
    if cols[4].button("Clear", key="interp_clear"):
        set_waypoints([])

    table = pd.DataFrame(waypoints(), columns=["z1", "z2"], dtype=float)
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
        set_waypoints(rows)
        st.rerun()


def path_map(
    active: ActiveModel, view: LatentView, path: np.ndarray, points: np.ndarray, mode: str
) -> None:
    """The latent map with the path drawn on it; a click anywhere appends a waypoint."""

    def build() -> go.Figure:
        y, kind = (view.y, "class" if view.label_kind == "class" else "continuous")
        if view.y is None:
            y, kind = None, None
        fig = latent_map_figure(
            view.mu,
            view.sigma,
            y,
            color_kind=kind,
            class_names=view.class_names,
            bubbles="off",
            height=520,
        )
        fig.add_traces(path_overlay_traces(path, points))
        fig.update_layout(showlegend=False)  # the Latent map page has the legend
        return fig

    fig = _remember((active.key, "map", mode, tuple(map(tuple, points.tolist()))), build)
    st.plotly_chart(fig, key="interp_map", config={"displaylogo": False, "scrollZoom": True})
    if record_click(map_click("interp_map", None, key="interp_map_click"), view):
        set_waypoints([*waypoints(), st.session_state[CLICKED_Z_KEY]])
        st.rerun()


def scrubber(active: ActiveModel, view: LatentView, points: np.ndarray, mode: str) -> go.Figure:
    """The client-side scrubbing figure for this path (cached: building 60 frames takes a moment)."""

    def build() -> go.Figure:
        path = interpolation_path(points, SCRUB_STEPS, mode)
        decoded = decode_latents(active.model, path)
        rng = np.random.default_rng(0)
        sample = view.mu[
            rng.choice(len(view.mu), min(BACKGROUND_POINTS, len(view.mu)), replace=False)
        ]
        return scrub_figure(
            path,
            decoded,
            active.dataset.image_shape,
            points,
            background=sample,
            show_path=False,
            height=420,
        )

    return _remember((active.key, "scrub", mode, tuple(map(tuple, points.tolist()))), build)

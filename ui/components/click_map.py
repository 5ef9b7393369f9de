"""A tiny st.components.v2 component: click anywhere on a Plotly chart, get the exact z.

Why not st.plotly_chart(on_select=...)? Selections report only existing points (a click on
empty space sends nothing), and every selection restyles the chart in the browser and makes
Streamlit re-send the whole figure with the rerun. Here the chart is a plain st.plotly_chart
outside the fragment and never changes; this component (inside the fragment, next to the
decode panel) listens to clicks on the chart's plot area and converts the pixel to data units
with the chart's own axes, so a click reruns only the fragment and the decode panel.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui.components.component_js import component_js

_JS = component_js("click_map.js")
_mount = st.components.v2.component("vae_explorer_map_click", js=_JS)


@dataclass(frozen=True)
class MapClick:
    """One click: z in latent units, and the example under the pointer (None: empty space)."""

    z: tuple[float, float]
    index: int | None


PENDING_KEY = "vx_map_click_pending"  # {component key: MapClick}, set by the click's callback


def _parse(value) -> MapClick | None:
    """The component's trigger payload {x, y, index, at} -> MapClick (None: no click)."""
    if not value:
        return None
    index = value.get("index")
    return MapClick(
        z=(float(value["x"]), float(value["y"])), index=int(index) if index is not None else None
    )


def map_click(chart_key: str, marker: tuple[float, float] | None, key: str) -> MapClick | None:
    """Listen to clicks on the st.plotly_chart with key `chart_key`; draw `marker` on it.

    Returns the click that triggered this run, else None. Must be called on every run in
    which the chart is shown (a trigger is delivered to exactly one run). The marker drawn
    is this run's click when there is one: the caller's `marker` comes from session state
    read before the click was recorded, and would put the marker back one click behind.
    """
    pending = st.session_state.setdefault(PENDING_KEY, {})

    def remember() -> None:  # runs before the (fragment) rerun the click asked for
        state = st.session_state.get(key)
        click = _parse(state.get("click") if state else None)
        if click is not None:
            st.session_state[PENDING_KEY][key] = click

    click = pending.pop(key, None)
    if click is not None:  # only if it is this run's trigger, not one left by an unfinished run
        state = st.session_state.get(key)
        click = click if _parse(state.get("click") if state else None) == click else None
    if click is not None:
        marker = click.z
    # A list, not a dict: Streamlit scans a dict's values for data frames, which imports
    # pandas (~1 s) on the first click.
    data = [chart_key, list(marker) if marker is not None else None]
    result = _mount(key=key, data=data, on_click_change=remember)
    return click if click is not None else _parse(getattr(result, "click", None))

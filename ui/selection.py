"""What the user picked on the active model's latent plane: the clicked point, the map's zoom
window, the Interpolate path and the Compare selection.

The one writer of these keys. A click reaches it from the map layer's callback
(ui/components/map_layer.py, before the rerun the click asks for), a link or a scene from
ui/share.py, a path from ui/interp_panel.py; a new model clears them all (forget).
"""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from .components.map_layer import MapClick
from .session_keys import (
    CLICKED_INDEX_KEY,
    CLICKED_Z_KEY,
    MAP_WINDOW_KEY,
    PATH_KEY,
    SELECTED_KEY,
)


def clicked() -> MapClick | None:
    """The clicked z and index as the map's last click (or a restored link) left them."""
    z = st.session_state.get(CLICKED_Z_KEY)
    if z is None:
        return None
    index = st.session_state.get(CLICKED_INDEX_KEY)
    return MapClick((float(z[0]), float(z[1])), int(index) if index is not None else None)


def set_clicked(click: MapClick | None) -> None:
    st.session_state[CLICKED_Z_KEY] = click.z if click is not None else None
    st.session_state[CLICKED_INDEX_KEY] = click.index if click is not None else None


def window() -> list[float] | None:
    """The map's zoom window [x0, x1, y0, y1] (None: the full view)."""
    return st.session_state.get(MAP_WINDOW_KEY)


def set_window(window: list[float] | None) -> None:
    st.session_state[MAP_WINDOW_KEY] = list(window) if window is not None else None


def path() -> list[tuple[float, float]]:
    """The Interpolate page's waypoints."""
    return [(float(a), float(b)) for a, b in st.session_state.get(PATH_KEY) or []]


def set_path(points: Iterable) -> None:
    st.session_state[PATH_KEY] = [(float(a), float(b)) for a, b in points]


def selected() -> list[int]:
    """Points selected on the Compare page (indices of the latent view)."""
    return [int(i) for i in st.session_state.get(SELECTED_KEY) or ()]


def set_selected(indices: Iterable[int]) -> None:
    st.session_state[SELECTED_KEY] = [int(i) for i in indices]


def forget() -> None:
    """A new model: its click, zoom and path do not apply. The Compare selection stays: it
    names test points, the same ones under any model of the same data."""
    set_clicked(None)
    set_window(None)
    set_path([])

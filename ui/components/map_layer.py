"""The latent map's browser layer: bubbles, the clicked z and its samples, clicks, the zoom window.

One st.components.v2 component beside an ordinary st.plotly_chart (found by the chart's key):
- it draws the variance bubbles on a canvas under the points, for the window on screen, on
  every zoom and pan (ui/components/map_layer.js), so they are crisp at every zoom and never a
  Plotly trace: the figure holds only the points, and changing the bubbles never re-sends it;
- it is the one place a click on the map lands. The click's callback writes the clicked z and
  the example's index (`vx_clicked_z`, `vx_clicked_index`) before the rerun it asks for, and
  `map_layer` returns them as a `MapClick` value for the caller to pass on (the decode panel,
  the link, the Inference lab read that value or those keys; nothing else writes them);
- it reports the zoom window (`vx_map_window`) when a zoom or pan ends.

The bubbles' arrays (mu, sigma, colour index: 20 bytes a point) go once per browser session
and data set: the browser keeps them by a content id, the session remembers which ids it has
sent, and later runs (every click reruns the fragment this sits in) send only the header.
Should the browser lack them after all, it asks ("need") and the next run sends them again.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from ui.components.component_js import component_js
from ui.state import CLICKED_INDEX_KEY, CLICKED_Z_KEY
from viz.latent_map import BubbleData

_JS = component_js("map_layer.js")
_mount = st.components.v2.component("vae_explorer_map_layer", js=_JS)
SENT_KEY = "vx_map_layer_sent"  # ids of the bubble data sets this session's browser was sent


@dataclass(frozen=True)
class MapClick:
    """The clicked z in latent units, and the example clicked (None: empty space)."""

    z: tuple[float, float]
    index: int | None


@dataclass(frozen=True)
class _Encoded:
    id: str
    floats: bytes
    palette: list[str]
    k: float
    n: int


_ENCODED: weakref.WeakKeyDictionary[BubbleData, _Encoded] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def encode_bubbles(data: BubbleData) -> _Encoded:
    """float32 bytes (mu, sigma, colour index) and a content id, once per BubbleData object."""
    with _LOCK:
        cached = _ENCODED.get(data)
    if cached is not None:
        return cached
    floats = b"".join(
        np.ascontiguousarray(a, dtype="<f4").tobytes()
        for a in (data.mu.reshape(-1, 2), data.sigma.reshape(-1, 2), data.color.reshape(-1))
    )
    meta = json.dumps([list(data.palette), data.k]).encode()
    digest = hashlib.sha256(meta + floats).hexdigest()[:16]
    encoded = _Encoded(digest, floats, list(data.palette), float(data.k), len(data.mu))
    with _LOCK:
        _ENCODED[data] = encoded
    return encoded


def layer_payload(
    target: str,
    bubbles: BubbleData | None,
    with_data: bool,
    *,
    clicked: MapClick | None = None,
    samples: np.ndarray | None = None,
    clickable: bool = False,
) -> bytes:
    """What map_layer.js reads: uint32 header length, JSON header, padding, float32 arrays."""
    encoded = encode_bubbles(bubbles) if bubbles is not None else None
    header = {
        "target": target,
        "id": encoded.id if encoded else None,
        "data": bool(encoded and with_data),
        "n": encoded.n if encoded else 0,
        "k": encoded.k if encoded else 0.0,
        "palette": encoded.palette if encoded else [],
        "clickable": clickable,
        "clicked": list(clicked.z) if clicked is not None else None,
        "index": clicked.index if clicked is not None else None,
        "samples": np.asarray(samples, dtype=float).reshape(-1, 2).tolist()
        if samples is not None
        else [],
    }
    head = json.dumps(header).encode()
    if not header["data"]:
        return struct.pack("<I", len(head)) + head
    pad = (4 - (4 + len(head)) % 4) % 4
    return struct.pack("<I", len(head)) + head + b"\0" * pad + encoded.floats


def parse_click(value, points: np.ndarray | None) -> MapClick | None:
    """The trigger payload {x, y, index, at} -> MapClick; None if it is not a readable click.

    A click on a data point means exactly that point's mean (the browser only knows the
    float32 position it drew); an index that names no point is empty space at the clicked z.
    """
    if not isinstance(value, dict):
        return None
    try:
        z = (float(value["x"]), float(value["y"]))
    except (KeyError, TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in z):
        return None
    index = value.get("index")
    if isinstance(index, int | float) and points is not None and 0 <= int(index) < len(points):
        index = int(index)
        return MapClick((float(points[index, 0]), float(points[index, 1])), index)
    return MapClick(z, None)


def parse_window(value) -> list[float] | None:
    """[x0, x1, y0, y1] with x0 < x1, y0 < y1, all finite; None for anything else."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    try:
        x0, x1, y0, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x0, x1, y0, y1)) or x0 >= x1 or y0 >= y1:
        return None
    return [x0, x1, y0, y1]


def current_click(
    z_key: str = CLICKED_Z_KEY, index_key: str | None = CLICKED_INDEX_KEY
) -> MapClick | None:
    """The clicked z and index as the map's last click (or a restored link) left them."""
    z = st.session_state.get(z_key)
    if z is None:
        return None
    index = st.session_state.get(index_key) if index_key else None
    return MapClick((float(z[0]), float(z[1])), int(index) if index is not None else None)


def map_layer(
    chart_key: str,
    key: str,
    *,
    bubbles: BubbleData | None = None,
    points: np.ndarray | None = None,
    clickable: bool = True,  # False: a map to look at (no clicks, no clicked z drawn)
    samples: Callable[[MapClick], np.ndarray | None] | None = None,
    window_key: str | None = None,
    z_key: str = CLICKED_Z_KEY,
    index_key: str | None = CLICKED_INDEX_KEY,
) -> tuple[MapClick | None, bool]:
    """Mount the layer on the st.plotly_chart with key `chart_key`: (the clicked z, is it new).

    points: the (N, 2) means the chart shows, so that a click on a point means its exact mu.
    samples(click): points to draw over the clicked one (its z = mu + sigma * eps).
    window_key: where the zoom window is reported (None: not reported).
    z_key, index_key: where the click is kept (the shared clicked z unless a page keeps its
    own). Must be called on every run in which the chart is shown (a trigger is delivered to
    exactly one run).
    """
    sent: set[str] = st.session_state.setdefault(SENT_KEY, set())

    def on_click() -> None:  # runs before the rerun the click asked for: the one writer
        state = st.session_state.get(key)
        click = parse_click(state.get("click") if state else None, points)
        if click is not None:
            st.session_state[z_key] = click.z
            if index_key is not None:
                st.session_state[index_key] = click.index

    def on_need() -> None:
        state = st.session_state.get(key)
        wanted = state.get("need") if state else None
        if isinstance(wanted, str):
            st.session_state[SENT_KEY].discard(wanted)
        else:
            st.session_state[SENT_KEY].clear()

    def on_window() -> None:
        state = st.session_state.get(key)
        if window_key is not None and state is not None:
            st.session_state[window_key] = parse_window(state.get("window"))

    clicked = current_click(z_key, index_key) if clickable else None
    encoded = encode_bubbles(bubbles) if bubbles is not None else None
    with_data = encoded is not None and encoded.id not in sent
    payload = layer_payload(
        chart_key,
        bubbles,
        with_data,
        clicked=clicked,
        samples=samples(clicked) if samples is not None and clicked is not None else None,
        clickable=clickable,
    )
    result = _mount(
        key=key,
        data=payload,
        on_click_change=on_click,
        on_need_change=on_need,
        on_window_change=on_window,
    )
    if with_data:
        sent.add(encoded.id)
    fresh = parse_click(getattr(result, "click", None), points) is not None
    return clicked, fresh

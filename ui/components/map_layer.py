"""The latent map's browser layer: bubbles, the clicked z and its samples, clicks, the zoom window.

One st.components.v2 component beside an ordinary st.plotly_chart (found by the chart's key):
- it draws the variance bubbles on a canvas under the points, for the window on screen, on
  every zoom and pan (ui/components/web/map_layer.js), so they are crisp at every zoom and never a
  Plotly trace: the figure holds only the points, and changing the bubbles never re-sends it;
- it is the one place a click on the map lands. The click's callback hands it as a `MapClick`
  to the caller's `on_click` (for the latent map, ui/selection.py keeps it) before the rerun it
  asks for, and `map_layer` returns it for the caller to pass on (the decode panel);
- it reports the zoom window to the caller's `on_window` when a zoom or pan ends.

The bubbles' arrays (mu, sigma, colour index: 20 bytes a point) go once per browser session
and data set: the browser keeps them by a content id, the session remembers which ids it has
sent, and later runs (every click reruns the fragment this sits in) send only the header.
Should the browser lack them after all, it asks ("need") and the next run sends them again.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from runner.frames import frame_bytes
from ui.components.assets import WebComponent
from ui.components.sending import PerObject, SentIds, forget_needed
from ui.session_keys import BUBBLES_SENT_KEY
from viz.latent_map import BubbleData

_mount = WebComponent("map_layer")
BUBBLES_SENT = SentIds(BUBBLES_SENT_KEY)


@dataclass(frozen=True)
class MapClick:
    """The clicked z in latent units, and the example clicked (None: empty space)."""

    z: tuple[float, float]
    index: int | None


@dataclass(frozen=True)
class _Encoded:
    id: str
    arrays: dict[str, np.ndarray]  # mu (N, 2), sigma (N, 2), color (N,): float32
    palette: list[str]
    k: float
    n: int


def _encode(data: BubbleData) -> _Encoded:
    arrays = {
        "mu": np.ascontiguousarray(data.mu.reshape(-1, 2), dtype="<f4"),
        "sigma": np.ascontiguousarray(data.sigma.reshape(-1, 2), dtype="<f4"),
        "color": np.ascontiguousarray(data.color.reshape(-1), dtype="<f4"),
    }
    meta = json.dumps([list(data.palette), data.k]).encode()
    digest = hashlib.sha256(meta + b"".join(a.tobytes() for a in arrays.values()))
    return _Encoded(
        digest.hexdigest()[:16], arrays, list(data.palette), float(data.k), len(data.mu)
    )


# float32 arrays and a content id, once per BubbleData object (a view's, shared by sessions).
encode_bubbles = PerObject(_encode)


def layer_payload(
    target: str,
    bubbles: BubbleData | None,
    with_data: bool,
    *,
    clicked: MapClick | None = None,
    samples: np.ndarray | None = None,
    clickable: bool = False,
    notice_ms: int = 0,
) -> bytes:
    """What web/map_layer.js reads: a frame (runner/frames.py), the bubble arrays in it when
    with_data (else the browser has them by id)."""
    encoded = encode_bubbles(bubbles) if bubbles is not None else None
    header = {
        "target": target,
        "id": encoded.id if encoded else None,
        "data": bool(encoded and with_data),
        "n": encoded.n if encoded else 0,
        "k": encoded.k if encoded else 0.0,
        "palette": encoded.palette if encoded else [],
        "clickable": clickable,
        "notice_ms": notice_ms,
        "clicked": list(clicked.z) if clicked is not None else None,
        "index": clicked.index if clicked is not None else None,
        "samples": np.asarray(samples, dtype=float).reshape(-1, 2).tolist()
        if samples is not None
        else [],
    }
    return frame_bytes(header, encoded.arrays if header["data"] else None)


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


def map_layer(
    chart_key: str,
    key: str,
    *,
    bubbles: BubbleData | None = None,
    points: np.ndarray | None = None,
    clicked: MapClick | None = None,
    on_click: Callable[[MapClick], None] | None = None,
    samples: Callable[[MapClick], np.ndarray | None] | None = None,
    on_window: Callable[[list[float] | None], None] | None = None,
    notice_ms: int = 0,
) -> tuple[MapClick | None, bool]:
    """Mount the layer on the st.plotly_chart with key `chart_key`: (the clicked z, is it new).

    points: the (N, 2) means the chart shows, so that a click on a point means its exact mu.
    clicked: the click to draw, as the caller keeps it (None: none yet).
    on_click(click): keeps a new click; runs before the rerun the click asks for, so the
    caller's `clicked` on that rerun is the new one (None: a map to look at, no clicks).
    samples(click): points to draw over the clicked one (its z = mu + sigma * eps).
    on_window(window): keeps the zoom window when a zoom or pan ends (None: not reported).
    notice_ms > 0: the browser answers a click alone (ui/components/click_panel.py), so the
    click reaches on_click that long after the last one, or at once before any other input.
    Must be called on every run in which the chart is shown (a trigger is delivered to
    exactly one run).
    """

    def click_landed() -> None:
        state = st.session_state.get(key)
        click = parse_click(state.get("click") if state else None, points)
        if click is not None and on_click is not None:
            on_click(click)

    def window_reported() -> None:
        state = st.session_state.get(key)
        if on_window is not None and state is not None:
            on_window(parse_window(state.get("window")))

    clickable = on_click is not None
    clicked = clicked if clickable else None
    encoded = encode_bubbles(bubbles) if bubbles is not None else None
    with_data = encoded is not None and encoded.id not in BUBBLES_SENT
    payload = layer_payload(
        chart_key,
        bubbles,
        with_data,
        clicked=clicked,
        samples=samples(clicked) if samples is not None and clicked is not None else None,
        clickable=clickable,
        notice_ms=notice_ms,
    )
    result = _mount(
        key=key,
        data=payload,
        on_click_change=click_landed,
        on_need_change=forget_needed(BUBBLES_SENT, key),
        on_window_change=window_reported,
    )
    if with_data:
        BUBBLES_SENT.add(encoded.id)
    fresh = parse_click(getattr(result, "click", None), points) is not None
    return clicked, fresh

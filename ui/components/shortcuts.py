"""Keyboard shortcuts (st.components.v2): a key pressed on the page becomes an action in Python.

The JavaScript (shortcuts.js) listens to keydown on the whole page, ignores typing in text
fields, and sends the bound action as a trigger. Python runs `on_action(action)` in the
trigger's callback, before the rerun draws any widget: the Streamlit-legal moment to set a
widget's key (a scene, the next bubble size). The component also reports the window's size,
which presenter mode uses to size the map to the projector.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st

from ui.components.assets import WebComponent
from ui.session_keys import VIEWPORT_KEY

_mount = WebComponent("shortcuts")


def action_of(value: object, allowed: Mapping[str, str]) -> str | None:
    """The action of a trigger payload {action, at}, if it is one of the bound ones."""
    if not isinstance(value, Mapping):
        return None
    action = value.get("action")
    return action if isinstance(action, str) and action in allowed.values() else None


def _viewport(value: object) -> tuple[int, int] | None:
    """A reported [width, height] in pixels, if plausible."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    if not all(isinstance(v, (int, float)) and 100 <= v <= 20_000 for v in value):
        return None
    return int(value[0]), int(value[1])


def keyboard_shortcuts(
    bindings: Mapping[str, str],
    on_action: Callable[[str], None],
    key: str,
    report_viewport: bool = False,
) -> tuple[int, int] | None:
    """Listen to the keys of `bindings` ({"b": "bubbles", "ArrowRight": "next", ...}).

    A pressed key calls on_action(action) before the rerun it causes. With report_viewport,
    the browser window's (width, height) is reported (kept in st.session_state[VIEWPORT_KEY])
    and returned once known.
    """

    def fire() -> None:
        state = st.session_state.get(key)
        action = action_of(state.get("key") if state else None, bindings)
        if action is not None:
            on_action(action)

    def resized() -> None:
        state = st.session_state.get(key)
        size = _viewport(state.get("viewport") if state else None)
        if size is not None:
            st.session_state[VIEWPORT_KEY] = size

    known = st.session_state.get(VIEWPORT_KEY)
    data = [dict(bindings), list(known) if known else None, report_viewport]
    _mount(key=key, data=data, on_key_change=fire, on_viewport_change=resized, height=0)
    return st.session_state.get(VIEWPORT_KEY)


__all__ = ["action_of", "keyboard_shortcuts"]

"""Widget values that outlive a visit to another page.

Streamlit deletes a widget's session-state key at the end of any run that does not draw the
widget, so a form's settings would fall back to their defaults after a trip to another page.
Each value is also kept under a key of this module, which no widget owns, and put back into
the widget's key before the widget is drawn again (the pattern Streamlit's docs give for
keeping widget state across pages).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from .session_keys import FORM_MEMORY_KEY


def _memory() -> dict[str, Any]:
    return st.session_state[FORM_MEMORY_KEY]


def recall(key: str, default: Any) -> None:
    """Before drawing widget `key`: give it its remembered value, else `default`."""
    if key not in st.session_state:
        st.session_state[key] = _memory().get(key, default)


def recalled(key: str) -> Any:
    """The remembered value of widget `key` (None if none yet)."""
    return _memory().get(key)


def remember(*keys: str) -> None:
    """Keep the current values of these widgets (as an on_change callback, and after drawing)."""
    memory = _memory()
    for key in keys:
        if key in st.session_state:
            memory[key] = st.session_state[key]


def forget(key: str) -> None:
    """Drop a widget's value and its memory, so that its next draw starts from its default."""
    st.session_state.pop(key, None)
    _memory().pop(key, None)

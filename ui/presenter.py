"""Presenter mode: larger fonts and pictures, no controls, for a projector.

app.py calls apply_presenter_mode() on every run: a toggle in the sidebar, and when it is on a
stylesheet that enlarges text and hides the sidebar, the header and every input widget, plus one
"exit presenter mode" button (the only control left, since the sidebar is hidden). Pages that
draw figures ask font_size() / height() so their Plotly text and charts grow too.
"""

from __future__ import annotations

import streamlit as st

PRESENTER_KEY = "vx_presenter"
SCALE = 1.45  # text and figures in presenter mode, relative to normal

# Input widgets by their test ids (Streamlit 1.67); charts, images and text stay.
_CONTROLS = (
    "stSlider",
    "stSelectbox",
    "stMultiSelect",
    "stRadio",
    "stCheckbox",
    "stToggle",
    "stNumberInput",
    "stTextInput",
    "stTextArea",
    "stSelectSlider",
    "stButton",
    "stDownloadButton",
    "stFileUploader",
    "stButtonGroup",
    "stPageLink",
)
_HIDE = ", ".join(f'[data-testid="{name}"]' for name in _CONTROLS)

PRESENTER_CSS = f"""
<style>
html {{ font-size: {round(16 * SCALE)}px; }}
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"], [data-testid="stToolbar"] {{ display: none !important; }}
{_HIDE} {{ display: none !important; }}
.st-key-presenter_exit [data-testid="stButton"] {{ display: block !important; }}
.block-container {{ padding-top: 1rem; max-width: 100%; }}
</style>
"""


def init_presenter() -> None:
    if PRESENTER_KEY not in st.session_state:
        st.session_state[PRESENTER_KEY] = False


def is_on() -> bool:
    return bool(st.session_state.get(PRESENTER_KEY, False))


def set_presenter(on: bool) -> None:
    st.session_state[PRESENTER_KEY] = bool(on)


def font_size(base: int = 12) -> int:
    """Plotly font size for figures on the explore pages."""
    return round(base * SCALE) if is_on() else base


def height(base: int) -> int:
    """Figure height in pixels."""
    return round(base * SCALE) if is_on() else base


def image_width() -> str:
    """st.image width: the column's full width in presenter mode, the picture's own otherwise."""
    return "stretch" if is_on() else "content"


def _sync_toggle() -> None:
    set_presenter(st.session_state["presenter_toggle"])


def _exit() -> None:
    set_presenter(False)
    st.session_state["presenter_toggle"] = False


def apply_presenter_mode() -> None:
    """Sidebar toggle; when on, the stylesheet and an exit button at the top of the page."""
    init_presenter()
    # The toggle mirrors vx_presenter, which a shared link (?present=1) may also have set.
    st.session_state["presenter_toggle"] = is_on()
    with st.sidebar:
        st.toggle(
            "Presenter mode",
            key="presenter_toggle",
            on_change=_sync_toggle,
            help="Larger text and pictures, no controls: for a projector.",
        )
    if is_on():
        st.html(PRESENTER_CSS)
        with st.container(key="presenter_exit"):
            st.button("Exit presenter mode", key="presenter_exit_button", on_click=_exit)


__all__ = [
    "PRESENTER_CSS",
    "PRESENTER_KEY",
    "apply_presenter_mode",
    "font_size",
    "height",
    "image_width",
    "init_presenter",
    "is_on",
    "set_presenter",
]

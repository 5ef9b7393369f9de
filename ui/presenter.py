"""Presenter mode: a projector-grade view (1920x1080) with large text and pictures.

app.py calls apply_presenter_mode() on every run: a toggle in the sidebar, and when it is on a
stylesheet that enlarges text and hides the sidebar, the header and every input widget except
those in a container keyed "presenter_keep..." (the latent map's compact control row), plus an
"exit presenter mode" button pinned to the bottom right. Every page hands its Plotly figures to
chart(), which in presenter mode raises every font to PRESENTER_FONT_PX and darkens the text
(viz/presentation.py); map_height() makes the latent map most of the projector's height.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from viz.presentation import PRESENTER_FONT_PX, projector_figure

from .frozen_figure import FrozenFigure
from .session_keys import (
    PRESENTER_KEY,
    PRESENTER_TOGGLE_KEY,
    PRESENTER_TOGGLE_SHOWN_KEY,
    VIEWPORT_KEY,
)

SCALE = 1.45  # text and figures in presenter mode, relative to normal
MAP_SHARE = 0.82  # of the window's height, for the latent map on a projector
ASSUMED_VIEWPORT = (1920, 1080)  # until the browser has reported its size

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
# Controls inside a container whose key starts with "presenter_keep" stay (the map's options).
_KEEP = '[class*="st-key-presenter_keep"]'
_HIDE = ", ".join(f'[data-testid="{name}"]:not({_KEEP} *)' for name in _CONTROLS)

PRESENTER_CSS = f"""
<style>
html {{ font-size: {round(16 * SCALE)}px; }}
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"], [data-testid="stToolbar"] {{ display: none !important; }}
{_HIDE} {{ display: none !important; }}
.st-key-presenter_keep_exit {{ position: fixed; bottom: 0.6rem; right: 1rem; z-index: 999990;
  width: auto !important; }}
.st-key-presenter_keep_keys {{ position: fixed; width: 0; height: 0; overflow: hidden; }}
.block-container {{ padding-top: 0.8rem; padding-bottom: 1rem; max-width: 100%; }}
body, .stMarkdown, [data-testid="stCaptionContainer"] {{ color: #000; }}
[data-testid="stCaptionContainer"] {{ opacity: 1; }}
h1 {{ font-size: 1.7rem !important; padding: 0 0 0.2rem 0 !important; }}
</style>
"""


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


def viewport() -> tuple[int, int]:
    """The browser window's (width, height) as the shortcut listener reported it."""
    size = st.session_state.get(VIEWPORT_KEY)
    return tuple(size) if size else ASSUMED_VIEWPORT


def map_height(base: int) -> int:
    """The latent map's height: MAP_SHARE of the window on a projector, `base` otherwise."""
    if not is_on():
        return base
    return max(base, round(MAP_SHARE * viewport()[1]))


def chart(figure: go.Figure, height: int | None = None) -> go.Figure:
    """`figure` as st.plotly_chart should show it: as it is, or in presenter mode restyled for
    a projector (fonts >= PRESENTER_FONT_PX, black text; `height` if given). The figure may be
    shared and frozen: presenter mode shows a restyled copy and never changes it."""
    if not is_on():
        return figure
    return FrozenFigure.from_dict(projector_figure(figure.to_dict(), PRESENTER_FONT_PX, height))


def _toggled() -> None:
    """The toggle's on_change: the user flipped it, unless the value is the one it was drawn
    with. A rerun the browser sent before it saw presenter mode change elsewhere (the exit
    button, Esc, a link) carries the toggle's old value, which Streamlit reports as a change
    when the run that would have redrawn the toggle was interrupted; followed, it turned
    presenter mode back on after "Exit presenter mode" (seen under load in Chromium)."""
    value = st.session_state[PRESENTER_TOGGLE_KEY]
    if value != st.session_state[PRESENTER_TOGGLE_SHOWN_KEY]:
        set_presenter(value)


def _exit() -> None:
    set_presenter(False)
    st.session_state[PRESENTER_TOGGLE_KEY] = False


def apply_presenter_mode() -> None:
    """Sidebar toggle; when on, the stylesheet and an exit button at the top of the page."""
    # The toggle mirrors vx_presenter, which a shared link (?present=1) may also have set.
    st.session_state[PRESENTER_TOGGLE_KEY] = is_on()
    st.session_state[PRESENTER_TOGGLE_SHOWN_KEY] = is_on()
    with st.sidebar:
        st.toggle(
            "Presenter mode",
            key=PRESENTER_TOGGLE_KEY,
            on_change=_toggled,
            help="Larger text and pictures, no controls: for a projector.",
        )
    if is_on():
        st.html(PRESENTER_CSS)
        with st.container(key="presenter_keep_exit"):
            st.button("Exit presenter mode", key="presenter_exit_button", on_click=_exit)


def leave() -> None:
    """Leave presenter mode (the Esc shortcut, the exit button); only from a callback."""
    _exit()


__all__ = [
    "PRESENTER_CSS",
    "apply_presenter_mode",
    "chart",
    "font_size",
    "height",
    "image_width",
    "is_on",
    "leave",
    "map_height",
    "set_presenter",
    "viewport",
]

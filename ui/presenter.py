"""Presenter mode: a projector-grade view (1920x1080) with large text and pictures.

app.py calls apply_presenter_mode() on every run: a toggle in the sidebar, and when it is on a
stylesheet that enlarges text (every control stays: each page is usable in front of the class)
and hides the sidebar and the header, plus a bar at the top of the page, in the page's flow so
that it never covers anything, with the page menu and "Exit presenter mode". Every page hands
its Plotly figures to chart(), which in presenter mode raises every font to PRESENTER_FONT_PX,
enlarges the markers and darkens the text (viz/presentation.py); map_height() makes the latent
map the projector's height below its controls, map_columns() gives it the width its data fill,
and map_chart() moves its legend into the room at the plot's right.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import streamlit as st

from viz.presentation import PRESENTER_FONT_PX, PRESENTER_MARKER_SCALE, projector_figure

from .frozen_figure import FrozenFigure
from .session_keys import (
    PRESENTER_KEY,
    PRESENTER_PAGE_MENU_KEY,
    PRESENTER_PAGE_WANTED_KEY,
    PRESENTER_TOGGLE_KEY,
    PRESENTER_TOGGLE_SHOWN_KEY,
    VIEWPORT_KEY,
)

SCALE = 1.45  # text and figures in presenter mode, relative to normal
# The latent map on a projector (issue 18: its plot was ~600 px wide, with room to spare): the
# height under the presenter bar and the map's control row, and the legend (or colour bar) in
# the room right of the plot (kept there for a colour bar anyway) rather than in rows under it.
MAP_TOP_PX = 215  # the presenter bar and the control row above the map
MAP_SIDE_ROOM = 280  # px right of the plot: "0: T-shirt/top" at 24 px, or a colour bar
MAP_UNDER_ROOM = 96  # px under the plot: the z₁ ticks and title at 24 px
MAP_LEFT_ROOM = 80  # px left of the plot: the z₂ ticks and title at 24 px
ASSUMED_VIEWPORT = (1920, 1080)  # until the browser has reported its size
PICTURE_PX = 336  # a decoded picture on a projector: 12 screen pixels per Fashion pixel
SIDE_PADDING_REM = 1.5  # the page's left and right padding on a projector

PRESENTER_CSS = f"""
<style>
html {{ font-size: {round(16 * SCALE)}px; }}
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"], [data-testid="stToolbar"] {{ display: none !important; }}
.st-key-presenter_keep_keys {{ position: fixed; width: 0; height: 0; overflow: hidden; }}
.block-container {{ padding: 0.6rem {SIDE_PADDING_REM}rem 1rem; max-width: 100%; }}
body, .stMarkdown, [data-testid="stCaptionContainer"] {{ color: #000; }}
[data-testid="stCaptionContainer"] {{ opacity: 1; }}
h1 {{ font-size: 1.7rem !important; padding: 0 0 0.2rem 0 !important; }}
/* A click on blank space focuses a container (tabindex) and the browser frames it in grey over
   the controls: keyboard focus keeps its ring, a click never draws one. */
:focus:not(:focus-visible) {{ outline: none !important; box-shadow: none !important; }}
/* Toasts at the top left, beside the page menu, never over the decoded picture (right). */
[data-testid="stToastContainer"] {{ top: 0.3rem; bottom: auto !important; right: auto !important;
  left: 0.5rem !important; }}
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
    """The latent map's height: the window's below the controls on a projector, else `base`."""
    if not is_on():
        return base
    return max(base, viewport()[1] - MAP_TOP_PX)


def picture_px(base: int) -> int:
    """On-screen size of a decoded picture: PICTURE_PX on a projector, `base` otherwise."""
    return max(base, PICTURE_PX) if is_on() else base


def map_columns(aspect: float, height: int) -> list[float]:
    """Column widths [map, panel] (pixels, as st.columns ratios) for a map `height` px high
    whose framed data are `aspect` (width / height, equal units) wide: on a projector the map's
    plot is as wide as its data need at that height, so that they fill its width, as far as
    the panel beside it keeps a PICTURE_PX picture and as much beside that (its two columns);
    elsewhere the usual 7 : 3."""
    if not is_on():
        return [7, 3]
    width = viewport()[0] - 2 * SIDE_PADDING_REM * round(16 * SCALE)
    plot_height = height - MAP_UNDER_ROOM - 24  # (24: the figure's top margin)
    wanted = aspect * plot_height + MAP_LEFT_ROOM + MAP_SIDE_ROOM
    map_px = min(max(wanted, 0.4 * width), width - 2 * (PICTURE_PX + 24))
    return [map_px, width - map_px]


def chart(figure: go.Figure, height: int | None = None) -> go.Figure:
    """`figure` as st.plotly_chart should show it: as it is, or in presenter mode restyled for
    a projector (fonts >= PRESENTER_FONT_PX, black text; `height` if given). The figure may be
    shared and frozen: presenter mode shows a restyled copy and never changes it."""
    if not is_on():
        return figure
    restyled = projector_figure(
        figure.to_dict(), PRESENTER_FONT_PX, height, marker_scale=PRESENTER_MARKER_SCALE
    )
    return FrozenFigure.from_dict(restyled)


def map_chart(figure: go.Figure, height: int) -> go.Figure:
    """chart() for the latent map: on a projector also its legend upright in the room right of
    the plot (at the bottom, under a colour bar's), and the margins map_columns() counts on,
    the same for every colouring, so that a colour bar never moves the view."""
    if not is_on():
        return figure
    restyled = projector_figure(
        figure.to_dict(), PRESENTER_FONT_PX, height, marker_scale=PRESENTER_MARKER_SCALE
    )
    layout = restyled["layout"]
    layout["margin"] = {**layout.get("margin", {}), "r": MAP_SIDE_ROOM, "b": MAP_UNDER_ROOM}
    layout["legend"] = {**layout.get("legend", {}), "orientation": "v", "xref": "paper",
                        "x": 1.02, "xanchor": "left", "yref": "paper", "y": 0,
                        "yanchor": "bottom"}  # fmt: skip
    for trace in restyled["data"]:
        colorbar = (trace.get("marker") or {}).get("colorbar")
        if colorbar is not None:  # the top half of the side room, over the legend
            colorbar.update(len=0.5, y=1, yanchor="top")
    return FrozenFigure.from_dict(restyled)


def plotly_chart(figure: go.Figure, **kwargs):
    """st.plotly_chart of chart(figure): the figure, restyled in presenter mode."""
    return st.plotly_chart(chart(figure), **kwargs)


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


def _want_page() -> None:
    st.session_state[PRESENTER_PAGE_WANTED_KEY] = st.session_state[PRESENTER_PAGE_MENU_KEY]


def _presenter_bar(pages: Sequence[st.Page], current: st.Page | None) -> None:
    """The top of the page on a projector: the page menu (the sidebar is hidden) and the way
    out, in the page's flow (a floating button covered what lay under it)."""
    titles = [p.title for p in pages]
    wanted = st.session_state.get(PRESENTER_PAGE_WANTED_KEY)
    st.session_state[PRESENTER_PAGE_WANTED_KEY] = None
    if current is not None and wanted in titles and wanted != current.title:
        st.switch_page(pages[titles.index(wanted)])
    with st.container(key="presenter_keep_bar", horizontal=True, horizontal_alignment="right"):
        if current is not None and current.title in titles:
            st.session_state[PRESENTER_PAGE_MENU_KEY] = current.title  # where we are
            st.selectbox(
                "Page", titles, key=PRESENTER_PAGE_MENU_KEY, label_visibility="collapsed", width=340,
                on_change=_want_page,
            )  # fmt: skip
        st.button(
            "Exit presenter mode", key="presenter_exit_button", on_click=_exit,
            icon=":material/close_fullscreen:",
        )  # fmt: skip


def apply_presenter_mode(pages: Sequence[st.Page] = (), current: st.Page | None = None) -> None:
    """Sidebar toggle; when on, the stylesheet and a bar at the top of the page with a menu of
    `pages` (the app's navigation; `current` is shown) and the exit button."""
    # The toggle mirrors vx_presenter, which a shared link (?present=1) may also have set.
    st.session_state[PRESENTER_TOGGLE_KEY] = is_on()
    st.session_state[PRESENTER_TOGGLE_SHOWN_KEY] = is_on()
    with st.sidebar:
        st.toggle(
            "Presenter mode",
            key=PRESENTER_TOGGLE_KEY,
            on_change=_toggled,
            help="Larger text and pictures, for a projector.",
        )
    if is_on():
        st.html(PRESENTER_CSS)
        _presenter_bar(pages, current)


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
    "map_columns",
    "map_chart",
    "map_height",
    "picture_px",
    "plotly_chart",
    "set_presenter",
    "viewport",
]

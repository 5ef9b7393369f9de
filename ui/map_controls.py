"""The latent map's option row (colour by, bubbles, prior) and the keyboard shortcuts.

The options' values, defaults and changes belong to ui/map_options.py; this module draws their
widgets. In presenter mode the row stays on screen (its container is kept by the presenter
stylesheet), more compact, with the shortcut keys listed beside it.
"""

from __future__ import annotations

import streamlit as st

from . import map_options as options
from . import presenter
from .components.shortcuts import keyboard_shortcuts
from .scene_panel import scene_stepper, step_scene
from .session_keys import BUBBLES_KEY, COLOR_BY_KEY, PRIOR_KEY
from .view_cache import LatentView
from .view_link import BUBBLE_CHOICES

MAP_PAGE = "latent_map"  # the url path of pages/latent_map.py
# key (KeyboardEvent.key, letters lower-case) -> action
MAP_SHORTCUTS = {
    "b": "bubbles",
    "c": "colour",
    "p": "prior",
    "ArrowLeft": "previous",
    "ArrowRight": "next",
    "Escape": "exit",
}
SHORTCUT_HELP = (
    "**B** bubbles off/1σ/2σ · **C** colour by · **P** prior · **← →** previous/next scene · "
    "**Esc** leave presenter mode"
)


def run_shortcut(action: str) -> None:
    """One shortcut's effect on session state; runs in the key's callback, before the widgets."""
    if action == "bubbles":
        options.next_bubbles()
    elif action == "colour":
        options.next_colour()
    elif action == "prior":
        options.toggle_prior()
    elif action in ("previous", "next"):
        step_scene(-1 if action == "previous" else 1)
    elif action == "exit":
        presenter.leave()


def page_shortcuts(page_path: str) -> None:
    """Listen to the keys: on the Latent map B, C, P and ←/→ (listed there), and Esc wherever
    presenter mode is on. In app.py before the page runs; in presenter mode inside a fixed,
    empty container, else in the sidebar (neither takes room from the page)."""
    presenting = presenter.is_on()
    bindings = {
        k: a
        for k, a in MAP_SHORTCUTS.items()
        if (a == "exit" and presenting) or (a != "exit" and page_path == MAP_PAGE)
    }
    if not bindings:
        return
    where = st.container(key="presenter_keep_keys") if presenting else st.sidebar
    with where:
        keyboard_shortcuts(bindings, run_shortcut, key="page_shortcuts", report_viewport=presenting)


def map_options(view: LatentView) -> tuple[str, str, bool]:
    """The option row above the map; returns (colour by, bubbles, prior)."""
    colourings = options.init_map_options(view)
    presenting = presenter.is_on()
    shown = "collapsed" if presenting else "visible"
    with st.container(key="presenter_keep_map_options"):
        widths = [2.0, 2.8, 1.5, 1.7, 3.4] if presenting else [2, 2, 1.4, 3]
        cols = st.columns(widths, vertical_alignment="center")
        color_by = cols[0].selectbox(
            "Colour by",
            colourings,
            key=COLOR_BY_KEY,
            format_func=(lambda c: f"colour: {c}") if presenting else str,
            label_visibility=shown,
            help="σ is the mean posterior standard deviation; KL is KL(q(z|x) ‖ N(0, I)) in nats.",
        )
        bubbles = cols[1].radio(
            "Variance bubbles",
            list(BUBBLE_CHOICES),
            key=BUBBLES_KEY,
            horizontal=True,
            format_func=(lambda b: f"bubbles {b}" if b == "off" else b) if presenting else str,
            label_visibility=shown,
        )
        prior = cols[2].checkbox("Prior N(0, I)", key=PRIOR_KEY)
        if presenting:
            with cols[3]:
                message = scene_stepper()
            if message:  # where the key list was, until the next step or click
                cols[4].markdown(f":material/slideshow: **{message}**")
            else:
                cols[4].caption(SHORTCUT_HELP)
        else:
            cols[3].caption(
                f"{len(view.mu):,} test points. **Click anywhere** — on a point or on empty "
                "space — to decode that z. Drag to zoom, double-click to reset. Keys: "
                + SHORTCUT_HELP.split(" · **Esc**")[0]
            )
    return color_by, bubbles, prior


__all__ = [
    "MAP_SHORTCUTS",
    "SHORTCUT_HELP",
    "map_options",
    "page_shortcuts",
    "run_shortcut",
]

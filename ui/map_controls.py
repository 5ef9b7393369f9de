"""The latent map's option row (colour by, bubbles, prior) and presenter mode's shortcuts.

The options are three widget keys (ui/state.py: COLOR_BY_KEY, BUBBLES_KEY, PRIOR_KEY) that a
shared link, a scene or a shortcut may set before the widgets draw. Their defaults are put in
session state here, and the widgets get no default of their own, so Streamlit never sees two
sources for one value. In presenter mode the row stays on screen (its container is kept by the
presenter stylesheet), more compact, with the shortcut keys listed beside it.
"""

from __future__ import annotations

import streamlit as st

from . import presenter
from .components.shortcuts import keyboard_shortcuts
from .scene_panel import scene_stepper, step_scene
from .state import BUBBLES_KEY, COLOR_BY_KEY, PRIOR_KEY, LatentView
from .view_link import BUBBLE_CHOICES, COLOR_CHOICES

COLOR_OPTIONS_KEY = "vx_color_options"  # the Colour-by choices the map offered last
DEFAULT_BUBBLES = "1σ"
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


def color_options(view: LatentView) -> list[str]:
    """The colourings this view can show: labels only if it has them, the approximation gap
    once the Inference lab has computed it for a sample of its points."""
    from .inference_lab import latest_gap_sample

    return [
        c
        for c in COLOR_CHOICES
        if (c != "label" or view.y is not None)
        and (c != "approximation gap" or latest_gap_sample(view) is not None)
    ]


def init_map_options(view: LatentView) -> list[str]:
    """Defaults for the option keys, and a valid colour for this model (a link or a scene may
    name "label" for a model without labels). Before the widgets draw."""
    state = st.session_state
    options = color_options(view)
    if state.get(COLOR_BY_KEY) not in options:
        state[COLOR_BY_KEY] = options[0]
    if state.get(BUBBLES_KEY) not in BUBBLE_CHOICES:
        state[BUBBLES_KEY] = DEFAULT_BUBBLES
    if not isinstance(state.get(PRIOR_KEY), bool):
        state[PRIOR_KEY] = False
    state[COLOR_OPTIONS_KEY] = options
    return options


def following(choices, current):
    """The choice after `current`, wrapping; the first if `current` is not one of them."""
    choices = list(choices)
    return (
        choices[(choices.index(current) + 1) % len(choices)] if current in choices else choices[0]
    )


def run_shortcut(action: str) -> None:
    """One shortcut's effect on session state; runs in the key's callback, before the widgets."""
    state = st.session_state
    if action == "bubbles":
        state[BUBBLES_KEY] = following(BUBBLE_CHOICES, state.get(BUBBLES_KEY, DEFAULT_BUBBLES))
    elif action == "colour":
        options = state.get(COLOR_OPTIONS_KEY) or list(COLOR_CHOICES)
        state[COLOR_BY_KEY] = following(options, state.get(COLOR_BY_KEY))
    elif action == "prior":
        state[PRIOR_KEY] = not state.get(PRIOR_KEY, False)
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
    options = init_map_options(view)
    presenting = presenter.is_on()
    shown = "collapsed" if presenting else "visible"
    with st.container(key="presenter_keep_map_options"):
        widths = [2.0, 2.8, 1.5, 1.7, 3.4] if presenting else [2, 2, 1.4, 3]
        cols = st.columns(widths, vertical_alignment="center")
        color_by = cols[0].selectbox(
            "Colour by",
            options,
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
    "following",
    "init_map_options",
    "map_options",
    "page_shortcuts",
    "run_shortcut",
]

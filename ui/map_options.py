"""The latent map's three options (colour by, bubbles, prior): their defaults, their valid
values and every change made to them outside their widgets.

They are widget keys (ui/map_controls.py draws the widgets) that a shared link, a scene or a
shortcut may set before the widgets draw; this module is the one writer of them, and it puts
their defaults in session state itself, so the widgets get no default of their own and
Streamlit never sees two sources for one value.
"""

from __future__ import annotations

import streamlit as st

from . import colourings
from .inference_lab import latest_gap_sample
from .session_keys import BUBBLES_KEY, COLOR_BY_KEY, COLOR_OPTIONS_KEY, PRIOR_KEY
from .view_cache import LatentView
from .view_link import BUBBLE_CHOICES

DEFAULT_BUBBLES = "1σ"


def init_map_options(view: LatentView) -> list[str]:
    """Defaults for the option keys, and a valid colour for this model (a link or a scene may
    name "label" for a model without labels). Before the widgets draw."""
    state = st.session_state
    options = colourings.offered(view, latest_gap_sample(view))
    if state.get(COLOR_BY_KEY) not in options:
        state[COLOR_BY_KEY] = options[0]
    if state.get(BUBBLES_KEY) not in BUBBLE_CHOICES:
        state[BUBBLES_KEY] = DEFAULT_BUBBLES
    if not isinstance(state.get(PRIOR_KEY), bool):
        state[PRIOR_KEY] = False
    state[COLOR_OPTIONS_KEY] = options
    return options


def current() -> tuple[str | None, str | None, bool | None]:
    """(colour by, bubbles, prior) as they stand; None where unset or not a valid value."""
    state = st.session_state
    color_by, bubbles, prior = state.get(COLOR_BY_KEY), state.get(BUBBLES_KEY), state.get(PRIOR_KEY)
    return (
        color_by if color_by in colourings.BY_NAME else None,
        bubbles if bubbles in BUBBLE_CHOICES else None,
        bool(prior) if prior is not None else None,
    )


def set_options(
    color_by: str | None = None, bubbles: str | None = None, prior: bool | None = None
) -> None:
    """Set the options given (a link, a scene); before the widgets draw."""
    state = st.session_state
    if color_by is not None:
        state[COLOR_BY_KEY] = color_by
    if bubbles is not None:
        state[BUBBLES_KEY] = bubbles
    if prior is not None:
        state[PRIOR_KEY] = prior


def following(choices, current):
    """The choice after `current`, wrapping; the first if `current` is not one of them."""
    choices = list(choices)
    return (
        choices[(choices.index(current) + 1) % len(choices)] if current in choices else choices[0]
    )


def next_bubbles() -> None:
    """The B key: off → 1σ → 2σ → off."""
    state = st.session_state
    state[BUBBLES_KEY] = following(BUBBLE_CHOICES, state.get(BUBBLES_KEY, DEFAULT_BUBBLES))


def next_colour() -> None:
    """The C key: the next colouring the map offered last."""
    state = st.session_state
    options = state.get(COLOR_OPTIONS_KEY) or list(colourings.NAMES)
    state[COLOR_BY_KEY] = following(options, state.get(COLOR_BY_KEY))


def toggle_prior() -> None:
    """The P key."""
    st.session_state[PRIOR_KEY] = not st.session_state.get(PRIOR_KEY, False)

"""Shareable views: the app's view lives in the URL (st.query_params), so a link reopens it.

app.py calls restore_shared_view() (a link that was just opened sets the model, the map's zoom
window, colour-by, bubbles and prior, the clicked z and point, selected points, path and
presenter mode: all before any widget draws, the Streamlit-legal way to set a widget's key)
and then sync_share_params() (the address bar holds a link to the view), both before the
page runs: in Streamlit 1.67 code after page.run() runs on the first run of a session only,
not on reruns (measured with AppTest and in Chromium). So a change made while a page runs
reaches the URL on the next full rerun. A model trained in this
session is not in the library, so a link cannot name it: the sidebar says so.
"""

from __future__ import annotations

import streamlit as st

from ui.components.map_layer import MapClick
from ui.view_link import (
    PRETRAINED,
    ModelRef,
    SharedView,
    ShareError,
    checked_window,
    decode_view,
    encode_view,
    fit_view,
)

from . import map_options, scored_input, selection
from .active_model import get_active_model
from .presenter import is_on as presenter_on
from .presenter import set_presenter
from .session_keys import INFERENCE_DRAW_KEY, INFERENCE_INDEX_KEY, SHARE_APPLIED_KEY
from .text import plain


def _url_params() -> dict[str, str]:
    """The current query params; a repeated parameter keeps its last value."""
    return {str(k): str(v) for k, v in st.query_params.to_dict().items()}


def current_view() -> SharedView:
    """What a link to this moment should restore."""
    active = get_active_model()
    click = selection.clicked()
    path = selection.path()
    window = selection.window()
    color_by, bubbles, prior = map_options.current()
    return SharedView(
        model=active.ref if active is not None else None,
        z=click.z if click is not None else None,
        index=click.index if click is not None else None,
        selected=tuple(selection.selected()),
        path=tuple(path) if len(path) >= 2 else (),
        window=checked_window(window) if window is not None else None,
        color_by=color_by,
        bubbles=bubbles,
        prior=prior,
        present=presenter_on(),
        # Once the lab has been opened: its point and binary sample, so that a link shows the
        # very x (and so the numbers) the class saw.
        lab_point=_lab_number(INFERENCE_INDEX_KEY),
        lab_draw=_lab_number(INFERENCE_DRAW_KEY),
    )


def _lab_number(key: str) -> int | None:
    value = st.session_state.get(key)
    return int(value) if value is not None else None


def _activate(ref: ModelRef) -> bool:
    """Make the model `ref` active unless it already is; False (with a warning) if absent."""
    active = get_active_model()
    if active is not None and active.ref == ref:
        return True
    from vae.checkpoint import CheckpointError
    from vae.data import DataError

    from .models import activate_model

    try:
        activate_model(ref)
    except LookupError:
        where = "shipped with this app" if ref.source == PRETRAINED else "in this model library"
        st.warning(f"The link names the model “{plain(ref.name)}”, which is not {where}.")
        return False
    except (CheckpointError, DataError, OSError) as error:
        st.warning(
            f"The model “{plain(ref.name)}” from the link could not be opened: {plain(error)}"
        )
        return False
    return True


def apply_view(view: SharedView, whole: bool = False) -> bool:
    """Put a decoded view into session state (the model first: activating it clears clicks).

    A link sets what it carries and leaves the rest; a scene (`whole`) is the whole view, so
    its full-view window and its lack of a click replace the current ones. Must run before the
    map's widgets draw (app.py, or a widget's callback). False if the model could not be opened.
    """
    if view.model is not None and not _activate(view.model):
        return False  # the selections of an unknown model would point at the wrong points
    active = get_active_model()
    view, dropped = fit_view(view, active.view_size if active is not None else 0)
    for note in dropped:
        st.warning(plain(note))
    if view.z is not None or whole:
        selection.set_clicked(MapClick(view.z, view.index) if view.z is not None else None)
    if view.window is not None or whole:
        selection.set_window(view.window)
    map_options.set_options(view.color_by, view.bubbles, view.prior)
    if view.selected:
        selection.set_selected(view.selected)
    if view.path:
        selection.set_path(view.path)
    if view.present:
        set_presenter(True)
    if view.lab_point is not None:
        scored_input.choose_point(view.lab_point)
    if view.lab_draw is not None or whole:
        scored_input.choose_sample(view.lab_draw or 0)
    return True


def restore_shared_view() -> None:
    """Apply the URL's view once, when the query params differ from what this session last
    applied or wrote; malformed params -> one st.warning, the session's view is kept."""
    params = _url_params()
    if params == st.session_state.get(SHARE_APPLIED_KEY):
        return
    st.session_state[SHARE_APPLIED_KEY] = params
    if not params:
        return
    try:
        view, unknown = decode_view(params)
    except ShareError as error:
        st.warning(
            f"This link could not be opened: {plain(error)}. Showing your current view instead."
        )
        return
    if unknown:
        st.warning(f"Ignored unknown link parameters: {plain(', '.join(unknown[:5]))}.")
    apply_view(view)


def write_url() -> None:
    """Write the current view into the URL, only when it changed. Pages call this after they
    change the view (a selection), since their reruns may not run app.py (see above)."""
    params = encode_view(current_view())
    if params != _url_params():
        st.query_params.from_dict(params)
    st.session_state[SHARE_APPLIED_KEY] = params


def sync_share_params() -> None:
    """Write the current view into the URL, and explain sharing in the sidebar."""
    write_url()
    active = get_active_model()
    with st.sidebar:
        if active is None:
            return
        if active.ref is None:
            st.caption(
                ":material/link_off: This model was trained in this session: save it "
                "(Models page) to share a link to this view."
            )
        else:
            st.caption(
                ":material/link: The address bar links to this view: the model, the map's zoom, "
                "colour, bubbles and prior, the clicked point, selections and the path, and the "
                "Inference lab's point and binary sample."
            )
            # A click handled inside a fragment does not rerun app.py, so the URL lags behind
            # it; any full rerun (this button) writes the latest view.
            st.button("Update link to this view", key="share_refresh", icon=":material/refresh:")


__all__ = [
    "apply_view",
    "current_view",
    "restore_shared_view",
    "sync_share_params",
    "write_url",
]

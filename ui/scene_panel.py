"""Lecture scenes on the page: save the current view under a name, list, show, delete, step.

The scenes live in the model library folder (ui/scenes.py reads and writes them). Showing a
scene sets the map's widget keys, so it only ever runs in a callback (a button, a shortcut),
before the widgets draw. A scene names a saved model: a model trained in this session has no
name another session could open, so it cannot have scenes until it is saved.
"""

from __future__ import annotations

import streamlit as st

from .active_model import ActiveModel
from .loaders import model_library
from .scenes import Scene, SceneBook, SceneError, scene_name
from .session_keys import SCENE_MESSAGE_KEY, SCENE_NAME_KEY, SCENE_POSITION_KEY
from .share import apply_view, current_view
from .text import plain

CHOICE_KEY = "scene_choice"  # the Saved scenes selectbox (only its widget writes it)
MAX_PROBLEMS_SHOWN = 5


def scene_book() -> SceneBook:
    return SceneBook(model_library().root)


def read_scenes() -> list[Scene]:
    """The library's scenes that can be read ([] when the file cannot be read now)."""
    try:
        return scene_book().read_file().scenes
    except SceneError:
        return []


def scene_warning() -> str | None:
    """One warning, as inert text, for what scenes.json holds that is not a scene; None if
    nothing (the file is parsed once per version, so asking again costs nothing)."""
    try:
        found = scene_book().read_file()
    except SceneError as error:
        return f"The scenes of this library cannot be read now: {plain(error)}."
    if not found.problems:
        return None
    if found.damaged:
        return (
            f"The scene file of this library cannot be read ({plain(found.problems[0])}). "
            "Saving a scene sets it aside under a new name and starts a new one."
        )
    shown = "; ".join(plain(p, limit=160) for p in found.problems[:MAX_PROBLEMS_SHOWN])
    count, more = len(found.problems), len(found.problems) - MAX_PROBLEMS_SHOWN
    return (
        f"{count:d} entr{'ies' if count != 1 else 'y'} of scenes.json cannot be read and "
        f"{'are' if count != 1 else 'is'} kept there as they are: {shown}"
        f"{f'; and {more:d} more' if more > 0 else ''}."
    )


def _say(kind: str, text: str) -> None:
    st.session_state[SCENE_MESSAGE_KEY] = (kind, text)


def show_scene(scenes: list[Scene], position: int) -> None:
    """Apply scene `position` (a callback's work: it sets the map's widget keys)."""
    scene = scenes[position]
    if apply_view(scene.view, whole=True):
        st.session_state[SCENE_POSITION_KEY] = position
        _say("info", f"Scene {position + 1:d} of {len(scenes)}: {plain(scene.name)}")
    else:
        _say("warning", f"Scene {plain(scene.name)}: its model could not be opened.")


def step_scene(delta: int) -> None:
    """Next (+1) or previous (-1) scene, from a button or the ←/→ shortcuts; the first scene if
    none was shown yet. Stops at either end."""
    scenes = read_scenes()
    if not scenes:
        _say("warning", "No scenes saved yet: save one on the Latent map page.")
        return
    position = st.session_state.get(SCENE_POSITION_KEY)
    if position is None or not 0 <= position < len(scenes):
        target = 0 if delta > 0 else len(scenes) - 1
    else:
        target = min(max(position + delta, 0), len(scenes) - 1)
        if target == position:  # at either end a key press must still answer
            end = "last" if delta > 0 else "first"
            _say("info", f"Scene {position + 1:d} of {len(scenes)} is the {end} one.")
            return
    show_scene(scenes, target)


def _save() -> None:
    view = current_view()
    if view.model is None:
        _say("warning", "Scenes need a saved model: save this one on the Models page first.")
        return
    try:
        name = scene_name(st.session_state.get(SCENE_NAME_KEY, ""))
        scenes, aside = scene_book().save(Scene(name, view), overwrite=False)
    except SceneError as error:
        _say("error", f"The scene was not saved: {plain(error)}.")
        return
    st.session_state[SCENE_POSITION_KEY] = len(scenes) - 1
    st.session_state[SCENE_NAME_KEY] = ""
    saved = f"Saved scene {plain(name)} ({len(scenes)} in this library)."
    if aside is not None:
        saved += f" The old scene file could not be read: it is kept as {plain(aside)}."
    _say("success", saved)


def _chosen(scenes: list[Scene]) -> int | None:
    name = st.session_state.get(CHOICE_KEY)
    return next((i for i, s in enumerate(scenes) if s.name == name), None)


def _show_chosen() -> None:
    scenes = read_scenes()
    position = _chosen(scenes)
    if position is None:
        _say("warning", "That scene is gone (deleted in another session).")
        return
    show_scene(scenes, position)


def _delete_chosen() -> None:
    name = st.session_state.get(CHOICE_KEY)
    try:
        scene_book().delete(str(name))
    except SceneError as error:
        _say("error", f"{plain(error)}.")
        return
    st.session_state[SCENE_POSITION_KEY] = None
    _say("success", f"Deleted scene {plain(name)}.")


def _take_message() -> tuple[str, str] | None:
    """The message a callback left, once."""
    message = st.session_state[SCENE_MESSAGE_KEY]
    st.session_state[SCENE_MESSAGE_KEY] = None
    return message


def _show_message() -> None:
    message = _take_message()
    if message:
        kind, text = message
        getattr(st, kind)(text)


def scenes_expander(active: ActiveModel) -> None:
    """The compact "Scenes" panel of the Latent map page and the Inference lab."""
    with st.expander("Scenes for a lecture", icon=":material/slideshow:"):
        _show_message()
        scenes = read_scenes()
        if (warning := scene_warning()) is not None:
            st.warning(warning)
        if active.ref is None:
            st.caption(
                "Scenes need a saved model: save this one on the Models page, then save views "
                "of it here."
            )
        else:
            left, right = st.columns([3, 1], vertical_alignment="bottom")
            left.text_input(
                "Scene name",
                key=SCENE_NAME_KEY,
                max_chars=80,
                placeholder="e.g. 1 overview",
                help="Letters, digits, space, '-', '_' and '.'. A scene is this view: the model, "
                "zoom, colour, bubbles, prior, clicked point and path (and, saved in the Inference "
                "lab, its point and binary sample).",
            )
            right.button("Save view", key="scene_save", icon=":material/add:", on_click=_save)
        if not scenes:
            st.caption("No scenes saved in this library yet.")
            return
        left, mid, right = st.columns([3, 1, 1], vertical_alignment="bottom")
        left.selectbox("Saved scenes", [s.name for s in scenes], key=CHOICE_KEY)
        mid.button("Show", key="scene_show", icon=":material/play_arrow:", on_click=_show_chosen)
        right.button("Delete", key="scene_delete", icon=":material/delete:",
                     on_click=_delete_chosen)  # fmt: skip
        st.caption(
            f"{len(scenes)} scene{'s' if len(scenes) != 1 else ''} · the keys **←** / **→** "
            "(in presenter mode also buttons) step through them in this order."
        )


def scene_stepper() -> str | None:
    """Previous / next scene buttons for presenter mode's control row; returns the message a
    step left (the scene's name, or why not), escaped, for the row to show beside them: a
    toast covered the map's decoded picture."""
    message = _take_message()
    left, right = st.columns(2)
    left.button("◀ Scene", key="scene_previous", on_click=step_scene, args=(-1,),
                help="Previous scene (←)")  # fmt: skip
    right.button("Scene ▶", key="scene_next", on_click=step_scene, args=(1,),
                 help="Next scene (→)")  # fmt: skip
    return message[1] if message else None


__all__ = ["read_scenes", "scene_stepper", "scenes_expander", "step_scene"]

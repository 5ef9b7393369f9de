"""The model every page looks at, and this session's models that are not saved yet.

A model trained in this browser session lives in this session's state (source "session")
until it is saved; a model loaded from the library is shared by every session through
st.cache_resource (ui/loaders.py), in eval() mode and never mutated.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import streamlit as st

from vae import VAE

from . import selection
from .app_entry import ensure_app_entry
from .loaders import model_library
from .session_keys import ACTIVE_KEY, SAVED_COPIES_KEY, UNSAVED_KEY

if TYPE_CHECKING:
    from vae.data import Dataset

    from .view_link import ModelRef  # a type only: view_link's colourings reach this module


@dataclass
class ActiveModel:
    """The model every page looks at, with the dataset it was trained on."""

    key: str  # unique and stable: the cache key of everything derived from this model
    name: str
    model: VAE  # eval() mode, never mutated after training
    metadata: dict  # the checkpoint metadata (see vae/checkpoint.py)
    dataset: Dataset
    source: Literal["session", "library"]
    # How a link or a scene names this model (ui/view_link.py); None: no other session could
    # open it (trained in this session and not saved).
    ref: ModelRef | None = None

    @property
    def view_size(self) -> int:
        """How many test points the latent map shows, so the indices a link may name."""
        from .view_cache import MAX_VIEW_POINTS

        return min(len(self.dataset.x_test), MAX_VIEW_POINTS)


def new_model_key(prefix: str = "session") -> str:
    """A fresh unique key for a model trained in this session."""
    return f"{prefix}:{uuid.uuid4().hex}"


def get_active_model() -> ActiveModel | None:
    ensure_app_entry()
    return st.session_state.get(ACTIVE_KEY)


def set_active_model(active: ActiveModel) -> None:
    """Make `active` the current model; selections made on the old model no longer apply.

    A model trained in this session and not saved stays in this session's list (a few MB at
    most each) until saved or the session ends: opening another model must not throw it away.
    """
    st.session_state[ACTIVE_KEY] = active
    selection.forget()  # (the old model's latent view is replaced when a page asks for one)
    if is_unsaved(active):
        st.session_state[UNSAVED_KEY][active.key] = active


def unsaved_models() -> dict[str, ActiveModel]:
    """This session's trained models that are not saved yet, by key (oldest first)."""
    return st.session_state[UNSAVED_KEY]


def is_unsaved(active: ActiveModel) -> bool:
    """A model trained in this session with no copy of its own in the library. Once its saved
    file is deleted or replaced (by anyone: the library is shared), it is unsaved again."""
    if active.source != "session":
        return False
    copy = st.session_state[SAVED_COPIES_KEY].get(active.key)
    if copy is None:
        return True
    try:
        return model_library().path_for(copy[0]).stat().st_mtime_ns != copy[1]
    except (OSError, ValueError):  # gone, or not a name the library could hold
        return True


def mark_saved(active: ActiveModel, path: Path) -> None:
    """`active` is in the library now, as `path`: nothing is lost if another model replaces it."""
    unsaved_models().pop(active.key, None)
    st.session_state[SAVED_COPIES_KEY][active.key] = (active.name, path.stat().st_mtime_ns)

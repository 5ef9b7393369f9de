"""What the server keeps about what it sends the browser's components.

- PerObject: a value computed once per object (a model's packed network, a view's bubble
  arrays), held by a weak key so a dropped object takes its value along, and computed again
  when the object's version (torch's parameter counters) has moved.
- SentIds: the content ids a session's browser was sent, so later runs send only the id; the
  browser asks ("need") when it lacks one after all, and the id is forgotten.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import streamlit as st

K = TypeVar("K")
V = TypeVar("V")


class PerObject(Generic[K, V]):
    """compute(obj), once per object and version(obj); thread-safe (sessions share objects)."""

    def __init__(
        self, compute: Callable[[K], V], version: Callable[[K], Hashable] = lambda _: None
    ):
        self._compute = compute
        self._version = version
        self._values: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, obj: K) -> V:
        version = self._version(obj)
        with self._lock:
            cached = self._values.get(obj)
        if cached is not None and cached[0] == version:
            return cached[1]
        value = self._compute(obj)  # outside the lock: another object need not wait
        with self._lock:
            self._values[obj] = (version, value)
        return value


class SentIds:
    """The ids this session's browser holds, kept in st.session_state[key] (a set)."""

    def __init__(self, key: str):
        self.key = key

    def __contains__(self, content_id: str) -> bool:
        return content_id in st.session_state[self.key]

    def add(self, content_id: str) -> None:
        st.session_state[self.key].add(content_id)

    def forget(self, wanted: object) -> None:
        """The browser's "need": an id or a list of ids it lacks; anything else, forget all
        (rather than leave a picture empty)."""
        ids = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            st.session_state[self.key].clear()
            return
        for i in ids:
            st.session_state[self.key].discard(i)


def forget_needed(sent: SentIds, key: str) -> Callable[[], None]:
    """A "need" trigger's callback for the component mounted under `key`."""

    def on_need() -> None:
        state = st.session_state.get(key)
        sent.forget(state.get("need") if state else None)

    return on_need


__all__ = ["PerObject", "SentIds", "forget_needed"]

"""A per-session cache for the explore pages' heavy results (densities, t-SNE, decoded grids).

Keyed by the active model's key plus the options, so a new model never sees old results; a
handful of entries at most, the least recently used dropped first. Read-only use: callers never
mutate values.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st
from cachetools import LRUCache

from .session_keys import EXPLORE_CACHE_KEY

T = TypeVar("T")


def cached(key: Hashable, compute: Callable[[], T]) -> T:
    """compute() once per session for `key` (which should start with the model key)."""
    cache: LRUCache = st.session_state[EXPLORE_CACHE_KEY]
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def is_cached(key: Hashable) -> bool:
    return key in st.session_state.get(EXPLORE_CACHE_KEY, {})


__all__ = ["cached", "is_cached"]

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

CACHE_KEY = "vx_explore_cache"
MAX_ENTRIES = 12
T = TypeVar("T")


def cached(key: Hashable, compute: Callable[[], T]) -> T:
    """compute() once per session for `key` (which should start with the model key)."""
    cache: LRUCache = st.session_state.setdefault(CACHE_KEY, LRUCache(maxsize=MAX_ENTRIES))
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def is_cached(key: Hashable) -> bool:
    return key in st.session_state.get(CACHE_KEY, {})


__all__ = ["cached", "is_cached"]

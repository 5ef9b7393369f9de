"""A per-session cache for the explore pages' heavy results (densities, t-SNE, decoded grids).

Keyed by the active model's key plus the options, so a new model never sees old results; a
handful of entries at most, oldest dropped first. Read-only use: callers never mutate values.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st

CACHE_KEY = "vx_explore_cache"
MAX_ENTRIES = 12
T = TypeVar("T")


def cached(key: Hashable, compute: Callable[[], T]) -> T:
    """compute() once per session for `key` (which should start with the model key)."""
    cache: dict = st.session_state.setdefault(CACHE_KEY, {})
    if key not in cache:
        cache[key] = compute()
        while len(cache) > MAX_ENTRIES:
            cache.pop(next(iter(cache)))
    return cache[key]


def is_cached(key: Hashable) -> bool:
    return key in st.session_state.get(CACHE_KEY, {})


__all__ = ["cached", "is_cached"]

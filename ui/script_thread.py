"""Every thread that runs this app's script code follows the CPU thread policy (vae/device.py).

Streamlit runs each script run on a fresh thread, and a fragment's rerun (a click on the latent
map, a finished stroke on the drawing pad, the training poll) runs only the fragment, never
app.py. torch's intra-op thread count is per thread, so a policy set in app.py alone would leave
a click's decode on torch's default: 2 threads on a 2-core server, competing with training
(measured in issue 21: 16.7-18.2 ms per point click against 6.2 ms on one thread). So app.py
calls follow_thread_policy() and every fragment is declared with `fragment` below, which calls
it first (tests/test_script_thread.py checks that no page or ui module uses st.fragment itself).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

import streamlit as st

from vae.device import use_interactive_threads

P = ParamSpec("P")
R = TypeVar("R")


def follow_thread_policy() -> None:
    """Put this script thread on the policy's torch thread count."""
    use_interactive_threads()


def on_thread_policy(function: Callable[P, R]) -> Callable[P, R]:
    """`function`, following the thread policy first on whatever thread calls it."""

    @functools.wraps(function)  # the same name: st.fragment's identity of the fragment
    def on_policy(*args: P.args, **kwargs: P.kwargs) -> R:
        follow_thread_policy()
        return function(*args, **kwargs)

    return on_policy


def fragment(
    body: Callable[P, R] | None = None,
    *,
    run_every: float | timedelta | None = None,
):
    """st.fragment whose every run, on whatever thread, first follows the thread policy.

    Used like st.fragment: `@fragment`, `@fragment(run_every=1.0)` or `fragment(f, run_every=1.0)`.
    """

    def declare(function: Callable[P, R]) -> Callable[P, R]:
        return st.fragment(on_thread_policy(function), run_every=run_every)

    return declare(body) if body is not None else declare

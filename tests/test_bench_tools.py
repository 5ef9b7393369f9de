"""The bench scripts' own helpers, where a mistake would crash a long measurement at its end."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.load_test import Servers, rss_mb
from tests.conftest import wait_until


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_memory_of_a_process_that_exited_is_zero_not_a_crash():
    """bench/load_test.py crashed with KeyError 'VmRSS' when HAProxy had already exited: a
    zombie's /proc status has no Vm* lines (issue 21)."""
    alive = rss_mb(os.getpid())
    assert alive[0] > 0 and alive[1] >= alive[0]
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_until(lambda: _state(child.pid) == "Z", 60, "the child to exit (unreaped)")
        assert rss_mb(child.pid) == (0.0, 0.0)  # a zombie
        servers = Servers(pids=[os.getpid()], proxy=child.pid)
        assert servers.tree_rss_mb() >= alive[0] * 0.5
    finally:
        child.wait()
    assert rss_mb(child.pid) == (0.0, 0.0)  # gone from /proc

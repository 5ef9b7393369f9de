"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `playwright install` is never run
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc; empty where there is no /proc).

    Used to prove that no training process outlives its job or server, and by the load test
    to count a server's training process in its memory and CPU.
    """
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.fixture(autouse=True)
def _no_internet_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every dataset download in the test suite goes to a closed local port, never the internet."""
    monkeypatch.setenv("VAE_EXPLORER_MIRROR", "http://127.0.0.1:9/")


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One headless Chromium for the whole run, shared by every browser test.

    Playwright's sync API allows one running instance per thread: a second
    `sync_playwright()` while the first is alive fails, so no test may start its own.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()

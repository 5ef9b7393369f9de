"""Shared pytest fixtures and helpers (import the helpers: `from tests.conftest import ...`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `playwright install` is never run
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def small_model(seed: int = 0, hidden: tuple[int, ...] = (32, 16), **config):
    """An untrained VAE for 8x8 digits (64 inputs): the same weights for the same seed."""
    import torch

    from vae import VAE, ModelConfig

    torch.manual_seed(seed)
    return VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=hidden, **config))


def wait_until(
    predicate: Callable[[], object], timeout: float = 120.0, what: str = "the condition"
) -> None:
    """Poll `predicate` until it is true; fail after `timeout` seconds (a deadline generous
    enough for a loaded 2-core machine, never a fixed sleep before an assert)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout:.0f} s")
        time.sleep(0.02)


class FakeClock:
    """A clock the test moves (`clock.now = 100.0`); each reading advances it by `step`.

    It counts its readings, so a test can wait until the code under test has looked at the
    time since a change (`clock.read_again()`) instead of sleeping and hoping it did.
    """

    def __init__(self, now: float = 0.0, step: float = 0.0) -> None:
        self.now, self.step, self.reads = now, step, 0

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        self.reads += 1
        return value

    def read_again(self, times: int = 3, timeout: float = 120.0) -> None:
        """Wait until the clock has been read `times` more times."""
        start = self.reads
        wait_until(lambda: self.reads >= start + times, timeout, f"{times} more clock readings")


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

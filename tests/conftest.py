"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_internet_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every dataset download in the test suite goes to a closed local port, never the internet."""
    monkeypatch.setenv("VAE_EXPLORER_MIRROR", "http://127.0.0.1:9/")

"""End-to-end fixtures: the real app (`streamlit run app.py`) driven by headless Chromium.

The server gets a free port, an empty model library in a temporary directory and no
file watcher; it is killed at teardown. Tests skip (saying why) where Chromium or
Playwright is missing, and never run `playwright install`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: F401  (re-exported for e2e helpers)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
STARTUP_SECONDS = 60


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_streamlit(
    script: Path, port: int, env: dict[str, str], cwd: Path = ROOT, poll: float = 0.2
) -> subprocess.Popen:
    """`streamlit run script` headless on 127.0.0.1:port; returns once /_stcore/health says ok.

    cwd: where it runs (its .streamlit/config.toml is read from there); poll: seconds between
    health checks (a benchmark timing the start wants it short)."""
    command = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log = open(ARTIFACTS / f"streamlit-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                if r.read().strip() == b"ok":
                    return process
        except OSError:
            time.sleep(poll)
    process.kill()
    raise RuntimeError(f"streamlit did not become healthy in {STARTUP_SECONDS} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@contextlib.contextmanager
def app_server(library: Path) -> Iterator[str]:
    """`streamlit run app.py` with its model library in `library`; yields the URL."""
    env = dict(os.environ, VAE_EXPLORER_MODELS=str(library))
    env["VAE_EXPLORER_MIRROR"] = "http://127.0.0.1:9/"  # no downloads from the internet
    port = free_port()
    process = start_streamlit(ROOT / "app.py", port, env)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture(scope="session")
def app_url(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with app_server(tmp_path_factory.mktemp("models")) as url:
        yield url

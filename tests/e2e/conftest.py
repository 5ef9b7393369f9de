"""End-to-end fixtures: the real app (`streamlit run app.py`) driven by headless Chromium.

A server gets a free port, a model library in a temporary directory and no file watcher; it
is killed at teardown. Tests skip (saying why) where Chromium or Playwright is missing, and
never run `playwright install`.

Starting a server (Streamlit, then torch in its first run) and opening a model in it cost
seconds of CPU each, so the browser tests share what they only read, for the whole run:

- `browser` (tests/conftest.py): one Chromium. Give each test or module its own context
  (`browser.new_context(viewport=...)`, closed at the end): a context is a fresh Streamlit
  session, with nothing of another test's clicks.
- `app_url`: the app on an EMPTY library, as a newcomer finds it (Home's quick start, the
  shipped Fashion-MNIST model, "No scenes saved yet"). Do not save models or scenes into it.
- `library` + `library_url`: the app on a library holding one small digits model, trained
  once per run and saved as `SAVED_DIGITS` and as `LONG_NAMED_DIGITS`; open it with a link
  (`library_url + f"/latent_map?model={SAVED_DIGITS}"`). A module may add what it needs to
  `library` (a scene, an imported model) before it opens a page: the app reads the folder
  on each run. Never delete or overwrite what is there; other modules read it.
- `app_server(folder)`: a server of your own, only where the test is about the server itself
  (a cold start) or needs a library the others must not see.

Wait for a settled page (tests/e2e/driver.py: `wait_idle`, `wait_settled`, a locator's
`wait_for`) with a generous deadline, never a fixed sleep: the CI machine may be busy.
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
    """The app on an empty model library, for the whole run."""
    with app_server(tmp_path_factory.mktemp("models")) as url:
        yield url


SAVED_DIGITS = "saved digits"
LONG_NAMED_DIGITS = "a saved digits model with a long name"  # for labels that must not be cut


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model library with one small digits model (5 epochs, one hidden layer of 64), trained
    once per run and saved under both names above."""
    from vae import TrainConfig
    from vae.data import load_dataset
    from vae.library import ModelLibrary
    from vae.recipes import quick_train

    folder = tmp_path_factory.mktemp("saved_models")
    quick = quick_train(
        load_dataset("digits"), SAVED_DIGITS, config=TrainConfig(epochs=5), hidden=(64,)
    )
    for name in (SAVED_DIGITS, LONG_NAMED_DIGITS):
        ModelLibrary(folder).save(name, quick.model, quick.metadata)
    return folder


@pytest.fixture(scope="session")
def library_url(library: Path, artifacts_dir: Path) -> Iterator[str]:
    """The app on `library`, for the whole run."""
    with app_server(library) as url:
        yield url

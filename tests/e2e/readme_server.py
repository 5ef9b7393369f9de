"""The README's run command as a newcomer types it, in a fresh copy of the app with a big `.venv`.

Shared by tests/e2e/test_idle_server.py and bench/idle_server.py. Every other test starts
Streamlit with `--server.fileWatcherType none`; this one runs `.venv/bin/streamlit run app.py`
as written, so the shipped `.streamlit/config.toml` alone decides what the server watches.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README_RUN = [".venv/bin/streamlit", "run", "app.py"]  # the README's command, word for word
OVERFLOW = "Inotify queue overflowed"  # watchdog's warning when its recursive watch drowns


def build_app_copy(dest: Path, venv_dirs: int = 4000) -> Path:
    """A copy of the app (entry file, pages, packages, .streamlit) with a `.venv` of `venv_dirs`
    package folders, as `./scripts/test.sh` leaves one (~4,200 folders with the dev requirements).

    Files are copied, not linked: Streamlit resolves the entry file's real path and watches the
    folder it lies in, so a link would have it watch this repository instead.
    """
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "app.py", dest / "app.py")
    skip = shutil.ignore_patterns("__pycache__")
    for item in ROOT.iterdir():
        if item.name in (".streamlit", "pages") or (item / "__init__.py").is_file():
            shutil.copytree(item, dest / item.name, ignore=skip)
    bin_dir = dest / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    # This interpreter's own `streamlit` script: its shebang names the real environment.
    (bin_dir / "streamlit").symlink_to(Path(sys.executable).parent / "streamlit")
    site = dest / ".venv" / "lib" / "python3" / "site-packages"
    per_package = 20
    for i in range(venv_dirs // per_package):
        for j in range(per_package):
            folder = site / f"package{i}" / f"module{j}"
            folder.mkdir(parents=True)
            (folder / "__init__.py").write_text("")
    return dest


@dataclass
class ReadmeServer:
    process: subprocess.Popen
    url: str
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (from /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_readme_server(app_dir: Path, port: int, library: Path, log: Path) -> ReadmeServer:
    """`.venv/bin/streamlit run app.py` in `app_dir`, returning once its health check says ok.

    The port and address come from Streamlit's own environment variables, so the command stays
    as written; every other STREAMLIT_* variable is dropped so that only the shipped config
    (and Streamlit's defaults) decide the file watcher.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env.update(
        STREAMLIT_SERVER_PORT=str(port),
        STREAMLIT_SERVER_ADDRESS="127.0.0.1",
        VAE_EXPLORER_MODELS=str(library),
        VAE_EXPLORER_MIRROR="http://127.0.0.1:9/",  # no dataset download leaves the machine
    )
    with log.open("wb") as out:
        process = subprocess.Popen(README_RUN, cwd=app_dir, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as reply:
                if reply.read().strip() == b"ok":
                    return ReadmeServer(process, url, log)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"streamlit did not become healthy in 60 s; see {log}")


def idle_cpu(server: ReadmeServer, browser, settle: float = 8.0, window: float = 20.0) -> float:
    """Server CPU seconds while one browser session sits on Home doing nothing for `window` s.

    The session matters: Streamlit starts watching the app's sources when a session opens.
    """
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.url)
        page.get_by_text("Quick start").first.wait_for(timeout=90_000)
        time.sleep(settle)  # the first run's imports and the watchers' set-up are not idling
        before = server.cpu_seconds()
        time.sleep(window)
        return server.cpu_seconds() - before
    finally:
        context.close()

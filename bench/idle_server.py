"""Idle server CPU: the README's run command, one idle session, a `.venv` of a few thousand folders.

Runs `.venv/bin/streamlit run app.py` (tests/e2e/readme_server.py) in two copies of the app side
by side in one run: with the shipped `.streamlit/config.toml`; with its file watcher line
removed (Streamlit's default: watchdog, watching the app's folder recursively); and with no
watcher at all (the floor). Prints the server's CPU seconds per idle window and the inotify
overflow warnings in its log.

Usage: .venv/bin/python bench/idle_server.py [--window 20] [--venv-dirs 4000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latent_bench import chromium  # noqa: E402
from bench.machine import cpu_model, utc_stamp  # noqa: E402
from tests.e2e.conftest import free_port, stop  # noqa: E402
from tests.e2e.readme_server import (  # noqa: E402
    OVERFLOW,
    build_app_copy,
    idle_cpu,
    start_readme_server,
)

WATCHER_LINE = re.compile(r"^fileWatcherType\s*=.*$", re.MULTILINE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=20.0, help="idle seconds measured")
    parser.add_argument("--venv-dirs", type=int, default=4000, help="folders in the fake .venv")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds before measuring")
    args = parser.parse_args()
    print(f"# bench/idle_server.py  {cpu_model()}, {os.cpu_count()} cores; {utc_stamp()}")
    print(f"# command: {' '.join(sys.argv)}; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        shipped = build_app_copy(Path(tmp) / "shipped", args.venv_dirs)
        default = build_app_copy(Path(tmp) / "default", args.venv_dirs)
        no_watcher = build_app_copy(Path(tmp) / "none", args.venv_dirs)
        for app_dir, line in ((default, ""), (no_watcher, 'fileWatcherType = "none"')):
            config = app_dir / ".streamlit" / "config.toml"
            config.write_text(WATCHER_LINE.sub(line, config.read_text()))
        configs = (
            ("Streamlit default (watchdog)", default),
            ("shipped (poll)", shipped),
            ("no watcher (floor)", no_watcher),
        )
        print("| round | config | idle CPU s | per 20 s | overflow warnings |")
        print("|---|---|---|---|---|")
        for round_ in range(1, args.rounds + 1):
            for name, app_dir in configs:
                port = free_port()
                log = Path(tmp) / f"{app_dir.name}-{round_}.log"
                server = start_readme_server(app_dir, port, Path(tmp) / "models", log)
                try:
                    cpu = idle_cpu(server, browser, settle=args.settle, window=args.window)
                finally:
                    stop(server.process)
                per_20 = cpu * 20.0 / args.window
                warnings = server.log_text().count(OVERFLOW)
                print(f"| {round_} | {name} | {cpu:.2f} | {per_20:.2f} | {warnings} |", flush=True)
    print(f"# load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

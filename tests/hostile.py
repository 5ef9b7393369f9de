"""Shared by the hostile-input tests: folder snapshots, the CLI run in-process, message checks.

A hostile input is handled when it ends in one clear sentence (an exception of the project's
error type, an st.error in the app, one `error:` line and a non-zero exit in the CLI) and
nothing on disk or in the session changed.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def folder_state(root: Path) -> dict[str, bytes]:
    """Every file under `root` (hidden ones too) with its bytes: equal snapshots = untouched."""
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_clear_message(message: str, pattern: str) -> None:
    """One human sentence: matches `pattern`, one line, no traceback, not a bare repr."""
    assert re.search(pattern, message, re.IGNORECASE), f"{message!r} !~ {pattern!r}"
    assert "\n" not in message.strip(), message
    assert "Traceback" not in message, message
    assert len(message) < 400, message


def shown(markdown: str) -> str:
    """What a reader sees of Markdown that ui.text.plain() escaped: the backslashes and the
    invisible word joiners that break autolinks removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`python -m vae ARGV` in this process: (exit code, stdout, stderr).

    The same main() the module entry point calls; argparse's usage errors exit via
    SystemExit, which is turned into the exit code as the interpreter would.
    """
    from vae.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def run_cli_process(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The real thing: `.venv/bin/python -m vae ARGV` in a subprocess."""
    done = subprocess.run(
        [sys.executable, "-m", "vae", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def assert_cli_refused(code: int, stderr: str, pattern: str) -> None:
    """Non-zero exit, exactly one `error:` line saying `pattern`, and no traceback."""
    assert code != 0, stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert_clear_message(errors[0], pattern)

"""The browser's pure functions (ui/components/web) under `node --test` (tests/js/*.test.mjs),
fed the payloads this side writes (tests/js/fixtures.py): the interpreter against torch, the
bubbles' geometry on a recording canvas, the scrubber's path math, the frame parser, the LRU.

Run from pytest rather than beside it, because the fixtures come from the app's own Python
(its payload functions, torch's answers) and are made fresh for each run, never checked in.
scripts/test.sh installs Node as it installs Chromium; where there is none, this skips and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.js.fixtures import write_fixtures

NODE = shutil.which("node")
HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(NODE is None, reason="Node.js not found (apt-get install nodejs)")
def test_the_browser_modules_under_node(tmp_path) -> None:
    write_fixtures(tmp_path)
    run = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", str(HERE / "js")],
        env={**os.environ, "VX_FIXTURES": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(run.stdout)  # the per-test lines, with the errors against torch (pytest -s shows them)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "ℹ fail 0" in run.stdout and "ℹ pass 0" not in run.stdout

"""The Latent map reads scenes.json on every rerun: a parse of a full scene file against the
cached read that replaced it (open without following links, fstat, read under the cap, look
up the parse of that file version). Side by side in one run; the ratio is the result.

    .venv/bin/python bench/scenes_read.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ui.scenes import FILE_NAME, MAX_SCENES, SceneBook, parse_scenes  # noqa: E402

REPEATS = 30


def mean_seconds(function, repeats: int = REPEATS) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    path = ";".join("1.25,-0.5" for _ in range(32))  # the longest path a view may carry
    scenes = [
        {"name": f"scene {i}", "view": {"model": "m", "z": "0.1,0.2", "path": path, "color": "kl"}}
        for i in range(MAX_SCENES)
    ]
    (folder / FILE_NAME).write_text(json.dumps({"version": 1, "scenes": scenes}))
    data = (folder / FILE_NAME).read_bytes()
    book = SceneBook(folder)
    book.read_file()  # the first read parses once
    parse = mean_seconds(lambda: parse_scenes(data))
    cached = mean_seconds(book.read_file)
    print(f"{MAX_SCENES} scenes, {len(data):,} bytes; load average {os.getloadavg()[0]:.1f}")
    print(f"parse every read: {parse * 1e3:.1f} ms; cached read: {cached * 1e3:.3f} ms; "
          f"ratio {parse / cached:,.0f}x")  # fmt: skip


if __name__ == "__main__":
    main()

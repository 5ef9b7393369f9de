"""Bytes of the click panel's atlas (ui/components/click_panel.py) per built-in test set: the
PNG sheet of the test pictures and the float32 mu, sigma, labels that go with it, once per
browser session and model view. Against the raw grey levels, and against the bytes one click
on a test point used to fetch from the server (its pictures as PNGs).

Usage: .venv/bin/python bench/atlas_bytes.py [--record]
"""

from __future__ import annotations

import argparse
import gzip
import os
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


import numpy as np  # noqa: E402

from bench.machine import cpu_model, utc_stamp  # noqa: E402
from ui.components.click_panel import ATLAS_COLUMNS, atlas_png, atlas_sheet, picture_levels  # noqa: E402
from vae.data import load_dataset  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"


IDX_TEST_IMAGES = {  # the 10k test sets, read straight from their IDX files
    "mnist": ROOT.parent / "shared" / "data" / "mnist" / "t10k-images-idx3-ubyte.gz",
    "fashion-mnist": Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"),
}


def test_pictures(name: str) -> tuple[np.ndarray, tuple[int, int]] | None:
    """(N, D) intensities in [0, 1] and the picture shape; None when not on this machine."""
    if name not in IDX_TEST_IMAGES:
        data = load_dataset(name, download=False)
        return data.x_test, data.image_shape
    path = IDX_TEST_IMAGES[name]
    if not path.is_file():
        return None
    raw = gzip.decompress(path.read_bytes())
    n, h, w = struct.unpack(">III", raw[4:16])
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, h * w) / 255.0, (h, w)


def measure(name: str) -> str | None:
    found = test_pictures(name)
    if found is None:
        print(f"{name}: not on this machine, skipped")
        return None
    x, shape = found
    start = time.perf_counter()
    levels = picture_levels(x, shape)
    png = atlas_png(atlas_sheet(levels, ATLAS_COLUMNS))
    took = time.perf_counter() - start
    n = len(levels)
    floats = 20 * n  # mu (2), sigma (2), label (1), float32
    return (
        f"| {name} | {n:,} | {shape[0]}x{shape[1]} | {levels.nbytes / 1e3:,.0f} KB "
        f"| **{len(png) / 1e3:,.0f} KB** ({len(png) / levels.nbytes:.0%}) | {floats / 1e3:,.0f} KB "
        f"| {took:.1f} s |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    rows = [row for name in ("digits", "mnist", "fashion-mnist") if (row := measure(name))]
    text = "\n".join(
        [
            "## The click panel's atlas: bytes per model view",
            "",
            f"`bench/atlas_bytes.py` on {cpu_model()}, load average {os.getloadavg()[0]:.1f}; "
            f"{utc_stamp()}. Sent once per browser session and view (a content id), then kept "
            "by the browser (ui/components/web/click_panel.js).",
            "",
            "| test set | pictures | size | raw grey levels | PNG atlas | mu, sigma, labels | built in |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(text)
    if args.record:
        with open(RESULTS, "a", encoding="utf-8") as handle:
            handle.write("\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

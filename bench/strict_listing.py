"""The model library's listing with huge-but-valid metadata (issue #20), measured side by side.

A library of 6 real models and 6 files whose 14 MB headers hold 7 M zeros: the first listing
(every file checked once), a second listing (one check per file version: cached), and the
same two listings of the 6 real models alone (the control). Also, for one such header, the
value count that refuses it against the json.loads that the listing did before (which built
all 7 M values). Run: `.venv/bin/python bench/strict_listing.py`.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import time
import tracemalloc
from pathlib import Path

import torch

from vae import VAE, ModelConfig
from vae import library as library_module
from vae.checkpoint import FORMAT_KEY, checkpoint_bytes
from vae.library import ModelLibrary
from vae.strict_files import count_json_values


def zeros_file(data: bytes) -> bytes:
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    document = json.loads(header["__metadata__"][FORMAT_KEY])
    document["metadata"]["extra"] = [[[0] * 110] * 256] * 256
    header["__metadata__"][FORMAT_KEY] = json.dumps(document, separators=(",", ":"))
    raw = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(raw)) + raw + data[8 + length :]


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    torch.manual_seed(0)
    model = VAE(ModelConfig(input_dim=784, image_shape=(28, 28), hidden=(512, 256))).eval()
    with tempfile.TemporaryDirectory() as folder:
        control, hostile = ModelLibrary(Path(folder) / "a"), ModelLibrary(Path(folder) / "b")
        for i in range(6):
            control.save(f"real-{i}", model, {})
            hostile.save(f"real-{i}", model, {})
        bad = zeros_file(checkpoint_bytes(model, {"name": "zeros"}))
        for i in range(6):
            (hostile.root / f"zeros-{i}.safetensors").write_bytes(bad)
        rows = []
        for name, library in (("6 real models", control), ("6 real + 6 with 7 M zeros", hostile)):
            library_module._VERIFIED.clear()
            first = timed(library.list)
            again = timed(library.list)
            ok = sum(e.ok for e in library.list())
            rows.append((name, first, again, ok))
        (length,) = struct.unpack("<Q", bad[:8])
        metadata = json.loads(bad[8 : 8 + length])["__metadata__"][FORMAT_KEY].encode()
        count_s = timed(lambda: count_json_values(metadata))
        tracemalloc.start()
        parse_s = timed(lambda: json.loads(metadata))
        parse_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| library | first listing | second listing (cached) | listed ok |")
    print("|---|---|---|---|")
    for name, first, again, ok in rows:
        print(f"| {name} | {first * 1000:.0f} ms | {again * 1000:.1f} ms | {ok} |")
    print(f"one 7 M-zero header ({len(metadata) / 2**20:.1f} MB): counted in {count_s * 1000:.0f} ms; "
          f"json.loads {parse_s * 1000:.0f} ms and {parse_peak / 2**20:.0f} MB "
          f"(ratio {parse_s / count_s:.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()

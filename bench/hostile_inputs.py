"""Hostile uploads before and after the parser bounds, side by side in one run.

Each case is parsed by vae.data.load_user_data from two source trees: BEFORE (a git ref,
exported to a temp folder; default: the commit before the bounds) and AFTER (this tree).
Every parse runs in its own process under a wall-clock limit and an address-space cap, so
the slow cases cannot take the machine down; a parse stopped by either is reported as such.

It also measures what matters to a classroom: how long the server's interpreter is frozen.
A ticker thread in the parsing process records the longest gap between its 1 ms ticks while
BEFORE parses in-process (as the server did) and while AFTER hands the file to
runner.sandbox.parse_upload (as the server now does).

    .venv/bin/python bench/hostile_inputs.py                      # ~3 minutes on 2 busy cores
    .venv/bin/python bench/hostile_inputs.py --timeout 60 --cases sniffer header-only
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model, utc_stamp  # noqa: E402


def _npz_bomb(size: int) -> bytes:
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': ({size // 64}, 8), }}"
    header = header.ljust(118) + "\n"
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("x.npy", "w", force_zip64=True) as member,
    ):
        member.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        chunk = bytes(16 * 2**20)
        for start in range(0, size // 64 * 64, len(chunk)):
            member.write(chunk[: size // 64 * 64 - start])
    return buffer.getvalue()


def _benign_csv() -> bytes:
    """A legitimate upload for the sandbox's cost: 20,000 rows of 64 features and a label."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = [
        ",".join(f"{v:.4f}" for v in row) + f",{i % 10}"
        for i, row in enumerate(rng.random((20_000, 64)))
    ]
    return (",".join(f"f{j}" for j in range(64)) + ",label\n" + "\n".join(rows) + "\n").encode()


CASES = {
    "benign": ("benign 20,000 x 64 CSV (8.6 MB)", "ok.csv", _benign_csv),
    "sniffer": ('64 KB of ," (csv.Sniffer)', "q.csv", lambda: b',"' * 32_768),
    "duplicates": (
        "100k duplicate header names",
        "dup.csv",
        lambda: b",".join([b"a"] * 100_000) + b"\n" + b"1\n" * 12,
    ),
    "columns": ("10^6 columns (2 MB line)", "wide.csv", lambda: (b"1," * 1_000_000)[:-1] + b"\n"),
    "line": ("one 100 MB line", "line.csv", lambda: b"a\n" + b"9" * (100 * 2**20) + b"\n"),
    "header-only": ("header-only CSV", "h.csv", lambda: b"a,b,c\n"),
    "npz-bomb": ("1 MB .npz inflating to 1000 MB", "bomb.npz", lambda: _npz_bomb(1000 * 2**20)),
}


def _checkpoint(document_text: str | None = None, pad_header_to: int = 0, **metadata) -> bytes:
    """A small valid checkpoint whose document or metadata is replaced (hand-built header)."""
    import torch
    from safetensors.torch import save

    from vae import VAE, ModelConfig

    torch.manual_seed(0)
    model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(32,)))
    document = {"format": "vae-explorer", "format_version": 1,
                "model_config": model.config.to_dict(),
                "metadata": {"name": "m", "dataset": "digits", **metadata}}  # fmt: skip
    text = document_text or json.dumps(document)
    if "DEEP" in text:
        text = text.replace('"DEEP"', "[" * 100_000 + "]" * 100_000)
    data = save(model.state_dict(), metadata={"vae_explorer": text})
    if pad_header_to:
        (n,) = struct.unpack("<Q", data[:8])
        header = data[8 : 8 + n] + b" " * (pad_header_to - n)
        data = struct.pack("<Q", pad_header_to) + header + data[8 + n :]
    return data


CHECKPOINTS = {
    "elbo-1e30": ("test_metrics.elbo = 10^30", lambda: _checkpoint(test_metrics={"elbo": 10**30})),
    "history-900k": (
        "900k history entries",
        lambda: _checkpoint(history=[{"loss": 1}] * 900_000),  # 10.8 MB, under the 16 MB cap
    ),
    "format-5mb": (
        "5 MB format_version",
        lambda: _checkpoint(
            json.dumps({"format": "vae-explorer", "format_version": "9" * 5_000_000})
        ),
    ),
    "nested-100k": ("JSON nested 100k deep", lambda: _checkpoint(deep="DEEP")),
    "header-50mb": ("50 MB header", lambda: _checkpoint(pad_header_to=50 * 2**20)),
    "junk": ("random bytes named junk.safetensors", lambda: os.urandom(4096)),
}

# Runs in a fresh process: parse one file with the tree at argv[1], report JSON on stdout.
_MEASURE = r"""
import json, resource, sys, threading, time
root, path, filename, mode, cap = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
sys.path.insert(0, root)
import vae.data  # imported before the clock starts (torch and all)
if mode == "sandbox":
    from runner.sandbox import parse_upload as parse
elif mode == "checkpoint":
    from vae.checkpoint import read_metadata
    parse = lambda data, name: read_metadata(path)
else:
    from vae.data import load_user_data as parse
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
data = open(path, "rb").read()
gaps, stop = [0.0], threading.Event()
def tick():
    last = time.perf_counter()
    while not stop.is_set():
        time.sleep(0.001)
        now = time.perf_counter()
        gaps[0] = max(gaps[0], now - last)
        last = now
ticker = threading.Thread(target=tick, daemon=True)
ticker.start()
time.sleep(0.05)
wall, cpu = time.perf_counter(), time.process_time()
try:
    parse(data, filename)
    outcome = "accepted"
except MemoryError:
    outcome = "MemoryError (the bench's address-space cap)"
except Exception as error:
    text = str(error)
    size = f" ({len(text):,} characters)" if len(text) > 200 else ""
    outcome = f"{type(error).__name__}{size}: {text[:120]}"
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
stop.set(); ticker.join()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": cpu + kids.ru_utime + kids.ru_stime, "peak_mb": peak,
                  "child_peak_mb": kids.ru_maxrss / 1024, "freeze": gaps[0], "outcome": outcome}))
"""


def export_tree(ref: str, into: Path) -> Path:
    """`git archive ref` unpacked into `into`: the BEFORE source tree."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
        archive.extractall(into, filter="data")
    return into


def measure(root: Path, path: Path, filename: str, mode: str, cap_mb: int, timeout: float):
    command = [sys.executable, "-c", _MEASURE, str(root), str(path), filename, mode,
               str(cap_mb * 2**20)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(root)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"outcome": f"still running after {timeout:.0f} s: stopped by the bench"}
    if done.returncode != 0:
        return {"outcome": f"crashed (exit {done.returncode}): {done.stderr.strip()[-160:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(label: str, result: dict) -> str:
    if "wall" not in result:
        return f"| {label} | - | - | - | - | {result['outcome']} |"
    return (
        f"| {label} | {result['wall']:.2f} | {result['cpu']:.2f} | "
        f"{max(result['peak_mb'], result['child_peak_mb']):,.0f} | {result['freeze']:.2f} | "
        f"{result['outcome']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="ecbca26", help="git ref of the BEFORE tree")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per parse")
    parser.add_argument("--cap-mb", type=int, default=3072, help="address space per parse")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument(
        "--checkpoints", nargs="*", default=list(CHECKPOINTS), choices=list(CHECKPOINTS)
    )
    args = parser.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} cores, {utc_stamp()}")
    print(f"load average at start: {os.getloadavg()}")
    print(
        "\n| case | wall s | CPU s | peak MB | longest freeze s | outcome |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    with tempfile.TemporaryDirectory() as folder:
        before = export_tree(args.before, Path(folder) / "before")
        for key in args.cases:
            label, filename, make = CASES[key]
            path = Path(folder) / filename
            path.write_bytes(make())
            old = measure(before, path, filename, "inprocess", args.cap_mb, args.timeout)
            new = measure(ROOT, path, filename, "sandbox", args.cap_mb, args.timeout)
            print(_row(f"{label}: before (in the server)", old), flush=True)
            print(_row(f"{label}: after (sandboxed)", new), flush=True)
        for key in args.checkpoints:  # read_metadata: what every listing and page reads first
            label, make = CHECKPOINTS[key]
            path = Path(folder) / ("junk.safetensors" if key == "junk" else f"{key}.safetensors")
            path.write_bytes(make())
            old = measure(before, path, path.name, "checkpoint", args.cap_mb, args.timeout)
            new = measure(ROOT, path, path.name, "checkpoint", args.cap_mb, args.timeout)
            print(_row(f"{label}: before", old), flush=True)
            print(_row(f"{label}: after", new), flush=True)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

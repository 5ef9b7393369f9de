"""The machine a benchmark runs on: its common flags (--device, --threads) and its description.

Every result line in RESULTS.md starts with what it was measured on, so each training benchmark
begins with `header()`: the script, the machine and the exact command.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: the browser benches' clients need none
    import torch


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def utc_stamp() -> str:
    """Now, as every result line dates itself: '2026-11-21 05:23 UTC'."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def machine_info(device: torch.device) -> str:
    """One line: CPU model and cores (or GPU name), torch version, date."""
    import torch

    where = f"{cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} (host: {where})"
    return (
        f"{where}; torch {torch.__version__}; python {sys.version.split()[0]}; "
        f"device {device}; {utc_stamp()}"
    )


def bench_parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the script's docstring, with --device and --threads."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser


def use_machine(args: argparse.Namespace) -> torch.device:
    """Apply --threads (before any work, so every timing sees it) and pick --device."""
    import torch

    from vae.device import pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    return pick_device(args.device)


def header(script: str, device: torch.device) -> str:
    """The two comment lines every run prints first: machine, then the command as typed."""
    return f"# bench/{script}  {machine_info(device)}\n# command: {' '.join(sys.argv)}"

"""Where torch computes: the device (CUDA, then Apple MPS, then the CPU, unless told otherwise)
and the CPU thread policy (how many intra-op threads training and interactive work each get)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# Below this many multiply-adds per step (parameters x batch size) a CPU step is a string of
# tiny kernels, and a second thread costs more in wake-ups than it saves; on a busy machine
# far more (measured on a loaded 2-core EPYC, digits-size model: 13-118 ms/step on one
# thread, 187-998 ms on two).
SMALL_STEP_MACS = 2**22


# At most this many trainings run at the same time in one app server; the rest wait for a slot.
MAX_CONCURRENT_JOBS = max(1, int(os.environ.get("VAE_EXPLORER_MAX_JOBS", "2")))


def cpu_threads_per_job(cpu_count: int | None = None, jobs: int = MAX_CONCURRENT_JOBS) -> int:
    """Torch threads for one CPU training: share the cores, but leave one for the web server.

    torch's intra-op thread count is per thread (OpenMP), so setting it inside the job's
    thread does not slow down the decoding that interactive pages do on other threads.
    """
    cores = cpu_count or os.cpu_count() or 1
    return max(1, (cores - 1) // jobs) if cores > 2 else 1


def interactive_threads(cpu_count: int | None = None) -> int:
    """Torch threads for a page's own work (encoding, decoding): leave a core for training.

    On a small CPU, OpenMP threads that compete for the cores with a training job slow both
    down many times over (measured: 2 threads each on 2 busy cores, ~20x slower than 1).
    """
    cores = cpu_count or os.cpu_count() or 1
    return 1 if cores <= 2 else cores - 1


def use_interactive_threads() -> int:
    """Put the calling thread on interactive_threads() intra-op threads; returns that number.

    torch's count is per thread (OpenMP) and a fresh thread starts from torch's default (the
    core count), so every thread that does a page's work calls this first: the app server runs
    each script run, and each fragment run, on a thread of its own.
    """
    threads = interactive_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def threads_for_work(macs_per_step: int) -> int | None:
    """1 when each step is too small to split across CPU threads, else None (torch's default)."""
    return 1 if macs_per_step < SMALL_STEP_MACS else None


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Use `threads` intra-op CPU threads inside the block (None: leave it), then restore."""
    previous = torch.get_num_threads()
    if threads is not None and threads != previous:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def pick_device(preference: str = "auto") -> torch.device:
    """`auto` picks the fastest available; an explicit name that is unavailable raises ValueError."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise ValueError(f"unknown device {preference!r}: use auto, cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no CUDA GPU is available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("MPS was asked for but Apple's Metal backend is not available")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {preference!r}: use auto, cpu, cuda or mps")
    return device


def describe_device(device: torch.device) -> str:
    """A short human label, e.g. 'CUDA (NVIDIA H200)' or 'CPU (2 threads)'."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "MPS (Apple GPU)"
    return f"CPU ({torch.get_num_threads()} threads)"

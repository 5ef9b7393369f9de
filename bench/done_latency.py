"""How long a finished training run waits for its child process to exit (issue 18).

Run: .venv/bin/python bench/done_latency.py [--runs 3] [--epochs 30]
Trains the Train page's digits run (runner="process", live pictures) and stamps three moments
on one clock: the job's state turns "done", the child process exits, and the child is reaped.
Before #18's fix the job waited for the exit, so "done" came at the exit; now it comes with the
child's last frame and the exit is reaped in the background: exit - done is the time saved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.job import TrainingJob  # noqa: E402
from runner.worker import close_all_workers, prestart_worker, spare_ready  # noqa: E402
from vae import VAE, ModelConfig, TrainConfig  # noqa: E402
from vae.data import load_dataset  # noqa: E402


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def one(data, epochs: int) -> tuple[float, float, float]:
    """(seconds from start to done, to the child's exit, to its reaping) of one run."""
    prestart_worker()
    spare_ready(120)  # as on the Train page, the warm-up happens while the user picks settings
    model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(256, 128)))
    start = time.monotonic()
    job = TrainingJob(model, data, TrainConfig(epochs=epochs), runner="process",
                      live_figures=True, heartbeat_timeout=None).start()  # fmt: skip
    done = exited = None
    while True:
        now = time.monotonic() - start
        if done is None and job.progress().finished:
            done = now
        if exited is None and job.worker_pid is not None and not running(job.worker_pid):
            exited = now
        if exited is not None and not Path(f"/proc/{job.worker_pid}").exists():
            return done if done is not None else now, exited, now
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    data = load_dataset("digits")
    rows = [one(data, args.epochs) for _ in range(args.runs)]
    close_all_workers()
    for name, column in zip(
        ("done", "child exited", "child reaped"), zip(*rows, strict=True), strict=True
    ):
        print(
            f"{name:13s} {statistics.fmean(column):6.2f} s  ({' '.join(f'{v:.2f}' for v in column)})"
        )
    print(f"{args.runs} runs of {args.epochs} epochs; load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")  # fmt: skip


if __name__ == "__main__":
    main()

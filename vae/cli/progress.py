"""How `train` talks to the terminal while it runs: a progress bar, and Ctrl-C as "stop and save"."""

from __future__ import annotations

import math
import signal
import sys
import time
from typing import Any


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressLine:
    """A one-line progress bar on a terminal (redrawn with \\r); one line per epoch otherwise."""

    def __init__(self, stream: Any, total_steps: int, enabled: bool = True) -> None:
        self.stream = stream
        self.total = max(1, total_steps)
        self.enabled = enabled
        self.live = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.summary = ""  # loss and test ELBO of the last finished epoch
        self.width = 0

    def step(self, done: int, epoch: int, epochs: int, force: bool = False) -> None:
        """Redraw after `done` of all steps (at most 10 times a second)."""
        now = time.perf_counter()
        if not self.live or (not force and now - self.last_draw < 0.1):
            return
        self.last_draw = now
        elapsed = now - self.start
        fraction = min(1.0, done / self.total)
        eta = elapsed / fraction * (1 - fraction) if fraction > 0 else float("nan")
        bar = "#" * int(fraction * 24)
        text = (
            f"epoch {epoch}/{epochs} [{bar:<24}] {fraction:4.0%}{self.summary} "
            f"ETA {_clock(eta) if math.isfinite(eta) else '?'}"
        )
        pad = " " * max(0, self.width - len(text))
        self.width = len(text)
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()

    def epoch_done(
        self, epoch: int, epochs: int, done: int, train: dict, test: dict | None
    ) -> None:
        self.summary = f" loss {train['loss']:.2f}"
        if test is not None:
            self.summary += f" test ELBO {test['elbo']:.2f}"
        if not self.enabled:
            return
        if self.live:
            self.step(done, epoch, epochs, force=True)
        else:
            elapsed = time.perf_counter() - self.start
            eta = elapsed / epoch * (epochs - epoch)
            self.stream.write(f"epoch {epoch}/{epochs}{self.summary} ETA {_clock(eta)}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.live and self.width:
            self.stream.write("\n")
            self.stream.flush()


class StopOnInterrupt:
    """First Ctrl-C: finish the current batch, then stop and save. Second Ctrl-C: abort."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: Any = None

    def __enter__(self) -> StopOnInterrupt:
        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread (e.g. main() called from a worker)
            self.previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write(
            "\nstopping after this batch and saving what was trained (Ctrl-C again to abort)\n"
        )
        sys.stderr.flush()

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

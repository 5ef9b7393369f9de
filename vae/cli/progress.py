"""How `train` talks to the terminal while it runs: a progress bar, and Ctrl-C as "stop and save"."""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

from tqdm import tqdm


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressLine:
    """tqdm's live bar on a terminal; one plain line per epoch otherwise (a log gets no \\r)."""

    def __init__(self, stream: Any, total_steps: int, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.live = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.start = time.perf_counter()
        self.bar = tqdm(
            total=max(1, total_steps),
            file=stream,
            disable=not self.live,
            unit="step",
            dynamic_ncols=True,
            mininterval=0.1,
            bar_format="{desc} [{bar:24}] {percentage:3.0f}%{postfix} ETA {remaining}",
        )
        self.summary = ""  # loss and test ELBO of the last finished epoch

    def step(self, done: int, epoch: int, epochs: int, force: bool = False) -> None:
        """Move the bar to `done` of all steps (tqdm redraws at most 10 times a second)."""
        if not self.live:
            return
        self.bar.set_description_str(f"epoch {epoch}/{epochs}", refresh=False)
        self.bar.update(done - self.bar.n)
        if force:
            self.bar.refresh()

    def epoch_done(
        self, epoch: int, epochs: int, done: int, train: dict, test: dict | None
    ) -> None:
        self.summary = f" loss {train['loss']:.2f}"
        if test is not None:
            self.summary += f" test ELBO {test['elbo']:.2f}"
        if not self.enabled:
            return
        if self.live:
            self.bar.set_postfix_str(self.summary.strip(), refresh=False)
            self.step(done, epoch, epochs, force=True)
        else:
            elapsed = time.perf_counter() - self.start
            eta = elapsed / epoch * (epochs - epoch)
            self.stream.write(f"epoch {epoch}/{epochs}{self.summary} ETA {_clock(eta)}\n")
            self.stream.flush()

    def close(self) -> None:
        self.bar.close()


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

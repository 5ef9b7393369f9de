"""The Train page's live pictures: the latest snapshot's latent map and the loss curves.

Building them is mostly plotly's property validation: ~70 ms of Python per rebuild on a 2-core
CPU (a 3-row make_subplots validates its layout for 28 ms alone). Done by the web server, that
time holds the interpreter every other session's clicks need: in bench/load_test.py the class's
slow clicks overlapped a training poll 10-20x as often as the others did. So a training process
builds them itself (runner/worker.py, `LiveFigureBuilder`) and sends them, serialised,
with its epoch reports; the page builds them only for a run in its own process and for the
replay after training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from vae.train import LatentSnapshot
from viz.latent_map import BubbleData, bubble_data, latent_map_figure
from viz.plots import loss_curves

MAP_HEIGHT = 480
CURVES_HEIGHT = MAP_HEIGHT + 60  # the curves' column has no title line above it
BUILD_SHARE = 0.2  # a training process spends at most this share of its time on the pictures
MIN_INTERVAL_SECONDS = 1.0  # and builds them at most this often (the page polls once a second)


def snapshot_map(
    snapshot: LatentSnapshot,
    labels: np.ndarray | None,
    label_kind: str | None,
    class_names: Sequence[str] | None,
) -> go.Figure:
    """The latent map of one epoch's snapshot, coloured by the labels of its test examples.

    Points only: the page draws the bubbles over it in the browser (snapshot_bubbles, with
    ui/components/map_layer), from the snapshot's own mu and sigma.
    """
    labels = labels[: len(snapshot.mu)] if labels is not None else None
    return latent_map_figure(
        snapshot.mu,
        snapshot.sigma,
        labels,
        color_kind=label_kind if labels is not None else None,
        class_names=tuple(class_names) if class_names is not None else None,
        prior_contours=True,
        height=MAP_HEIGHT,
        title=f"latent map after epoch {snapshot.epoch}",
    )


def snapshot_bubbles(
    snapshot: LatentSnapshot, labels: np.ndarray | None, label_kind: str | None
) -> BubbleData | None:
    """The 1σ bubbles of `snapshot_map`'s points, coloured as they are."""
    labels = labels[: len(snapshot.mu)] if labels is not None else None
    kind = label_kind if labels is not None else None
    return bubble_data(snapshot.mu, snapshot.sigma, labels, color_kind=kind, bubbles="1σ")


def live_curves(history: Sequence[dict]) -> go.Figure:
    """The loss curves of the epochs so far, stacked for the page's narrow column."""
    return loss_curves(history, height=CURVES_HEIGHT, stacked=True)


class RedrawThrottle:
    """Rebuild pictures within a share of the time: a rebuild that took b seconds is followed
    by at least max(min_interval, b / share) seconds without one.

    Used by the training process (`LiveFigureBuilder`) and by the Train page for a run in its
    own process (ui/live_pictures.py): building a picture holds the interpreter, and a fast run
    finishes epochs quicker than anyone can look at them.
    """

    def __init__(self, share: float, min_interval: float = 0.0, clock=time.monotonic) -> None:
        self.share, self.min_interval = share, min_interval
        self._clock = clock
        self._next_at = -math.inf  # the first rebuild is due at once

    def pause_after(self, build_seconds: float) -> float:
        """Seconds without a rebuild after one that took build_seconds."""
        return max(self.min_interval, build_seconds / self.share)

    def due(self) -> bool:
        return self._clock() >= self._next_at

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Time the block as one rebuild and hold the next one back accordingly."""
        start = self._clock()
        yield
        end = self._clock()
        self._next_at = end + self.pause_after(end - start)

    def added_seconds(self, run_seconds: float, epochs: int, build_seconds: float) -> float:
        """What rebuilds of build_seconds each add to a run that trains for run_seconds: one
        per epoch at most, and one per pause."""
        builds = min(epochs, 1 + math.floor(run_seconds / self.pause_after(build_seconds)))
        return builds * build_seconds


def training_throttle(clock=time.monotonic) -> RedrawThrottle:
    """The training process's: at most BUILD_SHARE of its time, at most once a second."""
    return RedrawThrottle(BUILD_SHARE, MIN_INTERVAL_SECONDS, clock)


class LiveFigureBuilder:
    """Rebuilds the live pictures now and then, within a share of the caller's time.

    builder.update(history, snapshot) -> {"epoch", "map" (JSON or None), "curves" (JSON)} when
    it rebuilt them, else None (see `training_throttle`).
    """

    def __init__(
        self,
        labels: np.ndarray | None,
        label_kind: str | None,
        class_names: Sequence[str] | None,
        clock=time.monotonic,
    ) -> None:
        self.labels, self.label_kind, self.class_names = labels, label_kind, class_names
        self.throttle = training_throttle(clock)

    def update(self, history: Sequence[dict], snapshot: LatentSnapshot | None) -> dict | None:
        if not history or not self.throttle.due():
            return None
        with self.throttle.rebuilding():
            figure = None
            if snapshot is not None:
                figure = snapshot_map(snapshot, self.labels, self.label_kind, self.class_names)
            return {
                "epoch": int(history[-1]["epoch"]),
                "map": pio.to_json(figure, validate=False) if figure is not None else None,
                "curves": pio.to_json(live_curves(history), validate=False),
            }


def build_seconds(
    points: int, epochs: int, label_kind: str | None, clock=time.perf_counter
) -> float:
    """How long one rebuild of the live pictures takes here and now: a map of `points` random
    latents coloured as the run's would be, and curves of `epochs` epochs (the most they get)."""
    rng = np.random.default_rng(0)
    mu, sigma = rng.standard_normal((points, 2)), np.full((points, 2), 0.1)
    labels = None if label_kind is None else rng.integers(0, 10, points)
    history = [{"epoch": e, "train_loss": 1.0 / e, "train_recon": 1.0 / e, "train_kl": 0.1,
                "train_elbo": -1.0 / e, "test_recon": 1.0 / e, "test_kl": 0.1,
                "test_elbo": -1.0 / e} for e in range(1, epochs + 1)]  # fmt: skip
    builder = LiveFigureBuilder(labels, label_kind, None, clock=clock)
    start = clock()
    builder.update(history, LatentSnapshot(epochs, mu, sigma))
    return clock() - start

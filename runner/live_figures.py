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

import time
from collections.abc import Sequence

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


class LiveFigureBuilder:
    """Rebuilds the live pictures now and then, within a share of the caller's time.

    builder.update(history, snapshot) -> {"epoch", "map" (JSON or None), "curves" (JSON)} when
    it rebuilt them, else None. A rebuild that took b seconds is followed by at least
    max(MIN_INTERVAL_SECONDS, b / BUILD_SHARE) seconds without one.
    """

    def __init__(
        self,
        labels: np.ndarray | None,
        label_kind: str | None,
        class_names: Sequence[str] | None,
        clock=time.monotonic,
    ) -> None:
        self.labels, self.label_kind, self.class_names = labels, label_kind, class_names
        self._clock = clock
        self._next_at = clock()

    def update(self, history: Sequence[dict], snapshot: LatentSnapshot | None) -> dict | None:
        start = self._clock()
        if start < self._next_at or not history:
            return None
        figure = None
        if snapshot is not None:
            figure = snapshot_map(snapshot, self.labels, self.label_kind, self.class_names)
        built = {
            "epoch": int(history[-1]["epoch"]),
            "map": pio.to_json(figure, validate=False) if figure is not None else None,
            "curves": pio.to_json(live_curves(history), validate=False),
        }
        end = self._clock()
        self._next_at = end + max(MIN_INTERVAL_SECONDS, (end - start) / BUILD_SHARE)
        return built

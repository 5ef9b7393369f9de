"""runner/live_figures.py: the Train page's pictures, rebuilt within a share of the trainer's time."""

from __future__ import annotations

import json

import numpy as np

from runner.live_figures import BUILD_SHARE, MIN_INTERVAL_SECONDS, LiveFigureBuilder, snapshot_map
from tests.conftest import FakeClock
from vae.train import LatentSnapshot


def snapshot(epoch: int) -> LatentSnapshot:
    rng = np.random.default_rng(epoch)
    return LatentSnapshot(epoch, rng.standard_normal((40, 2)), np.full((40, 2), 0.3))


def history(epochs: int) -> list[dict]:
    return [{"epoch": e, "train_loss": 30.0 - e, "train_recon": 25.0, "train_kl": 5.0,
             "train_elbo": e - 30.0} for e in range(1, epochs + 1)]  # fmt: skip


def test_the_pictures_are_rebuilt_within_their_share_of_time() -> None:
    clock = FakeClock(now=100.0)
    builder = LiveFigureBuilder(np.arange(40) % 3, "class", ["a", "b", "c"], clock=clock)
    clock.step = 1.0  # each reading 1 s after the one before: the build "takes" 1 s
    first = builder.update(history(1), snapshot(1))  # readings: due at 100, from 101 to 102
    assert first is not None and first["epoch"] == 1
    assert json.loads(first["map"])["layout"]["title"]["text"] == "latent map after epoch 1"
    assert json.loads(first["curves"])["data"], "the curves have traces"
    clock.step = 0.0
    wait = max(MIN_INTERVAL_SECONDS, 1.0 / BUILD_SHARE)  # 5 s: the share decides, not the floor
    assert wait > MIN_INTERVAL_SECONDS
    clock.now = 102.0 + wait - 0.5  # the build ended at 102
    assert builder.update(history(2), snapshot(2)) is None  # too soon: the trainer trains
    clock.now += 1.0
    second = builder.update(history(3), None)  # no snapshot yet or any more: curves only
    assert second is not None and second["epoch"] == 3 and second["map"] is None


def test_no_history_no_pictures() -> None:
    assert LiveFigureBuilder(None, None, None).update([], None) is None


def test_the_snapshot_map_is_coloured_by_the_first_labels() -> None:
    labels = np.array([0, 1] * 30)  # more labels than points: only the first 40 are used
    figure = snapshot_map(snapshot(4), labels, "class", ["zero", "one"])
    names = {trace.name for trace in figure.data if trace.showlegend is not False}
    assert {"0: zero", "1: one"} <= names

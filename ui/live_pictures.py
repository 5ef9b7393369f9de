"""The Train page's live pictures: the latest epoch's latent map and the loss curves.

While a training process runs, it builds them itself (runner/live_figures.py) and they are only
parsed here, once per version. Otherwise (a run in this process, the replay after training)
they are built here, only when they would change, and while training within
`runner.live_figures.RedrawThrottle`'s share of the time: building them (~0.1-0.2 s each on a
2-core CPU, more when busy) holds the interpreter that every other session's clicks need, and a
fast run finishes epochs quicker than the page polls. Finished runs (the replay slider) redraw
at once. Frozen figures: the polls that show the same pictures again do not serialise them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from runner.live_figures import RedrawThrottle, live_curves, snapshot_map
from vae.train import LatentSnapshot

from .frozen_figure import FrozenFigure
from .session_keys import TRAIN_LIVE_FIGURES_KEY

REDRAW_SHARE = 0.1  # while training in this process, rebuilding takes at most this share


@dataclass
class LivePictures:
    """The pictures last shown for one run, with what they show and when to rebuild them."""

    job_id: int
    throttle: RedrawThrottle = field(default_factory=lambda: RedrawThrottle(REDRAW_SHARE))
    shows: tuple | None = None  # what the pictures were built from
    map: FrozenFigure | None = None
    curves: FrozenFigure | None = None


def live_pictures(run, history: list[dict], snap: LatentSnapshot | None, finished: bool,
                  prebuilt: dict | None) -> tuple[FrozenFigure | None, FrozenFigure]:  # fmt: skip
    """(map or None, loss curves) of `run` for the live panel; `prebuilt` is what a training
    process sent (`JobProgress.figures`), `snap` the snapshot to draw otherwise."""
    pictures = st.session_state.get(TRAIN_LIVE_FIGURES_KEY)
    if pictures is None or pictures.job_id != id(run.job):
        pictures = st.session_state[TRAIN_LIVE_FIGURES_KEY] = LivePictures(id(run.job))
    if prebuilt is not None and not finished:
        shows = ("prebuilt", prebuilt["epoch"])
        if pictures.shows != shows:
            pictures.map = FrozenFigure.from_json(prebuilt["map"]) if prebuilt["map"] else None
            pictures.curves = FrozenFigure.from_json(prebuilt["curves"])
            pictures.shows = shows
        return pictures.map, pictures.curves
    shows = (len(history), snap.epoch if snap is not None else None, finished)
    up_to_date = pictures.shows == shows or (not finished and not pictures.throttle.due())
    if up_to_date and pictures.curves is not None:
        return pictures.map, pictures.curves
    with pictures.throttle.rebuilding():
        figure = None
        if snap is not None:
            data = run.dataset
            figure = snapshot_map(snap, data.y_test, data.label_kind, data.class_names)
        curves = live_curves(history)
        if snap is not None and finished:
            curves.add_vline(x=snap.epoch, line=dict(color="grey", dash="dot", width=1))
        pictures.map = FrozenFigure(figure) if figure is not None else None
        pictures.curves = FrozenFigure(curves)
    pictures.shows = shows
    return pictures.map, pictures.curves


def shown_snapshot(snapshots: list, snap, prebuilt: dict | None, finished: bool):
    """The snapshot whose points the live map shows: a training process's prebuilt map may be
    an epoch or two behind the latest snapshot, and the bubbles must sit on those points."""
    if prebuilt is None or finished or not prebuilt.get("map"):
        return snap
    epoch = prebuilt["epoch"]
    return next((s for s in reversed(snapshots) if s.epoch == epoch), snap)

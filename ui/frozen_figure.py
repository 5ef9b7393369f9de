"""Figures that are built once and shown on every page run: serialise them once, too.

st.plotly_chart turns its figure into a dict on every script run (plotly's Figure.to_dict: a
deep copy of every trace, then base64 of every array), even when the figure is a cached object
that never changes. For the digits latent map that is 5.4 ms of the server's one Python thread
on every run of the page, in every session; the JSON encoding that follows takes 0.7 ms.
A frozen figure computes the dict once and hands out that same dict afterwards.

So a frozen figure must not be changed after freezing, nor the figure it was made from (they
share their state): build it completely, then freeze it. The caches in ui/ only ever hand out
finished figures, and Streamlit only reads the dict.
"""

from __future__ import annotations

import json

import plotly.graph_objects as go


class FrozenFigure(go.Figure):
    """A finished go.Figure whose to_dict() is computed once (see the module docstring)."""

    def __init__(self, figure: go.Figure) -> None:
        # Not a copy: go.Figure(figure) re-validates every property, which costs as much as
        # building the figure did (28 ms for a training snapshot's map). The frozen figure
        # shares the finished figure's state instead; neither is changed afterwards.
        self.__dict__.update(figure.__dict__)
        self._frozen_dict = figure.to_dict()

    def to_dict(self) -> dict:
        return self._frozen_dict

    def with_window(self, window) -> FrozenFigure:
        """This figure showing [x0, x1, y0, y1], with a uirevision of its own so that Plotly
        applies the window over the user's last zoom. Shares the traces (a shallow copy)."""
        x0, x1, y0, y1 = (float(v) for v in window)
        base = self.to_dict()
        layout = dict(base.get("layout", {}))
        layout["xaxis"] = {**layout.get("xaxis", {}), "range": [x0, x1], "autorange": False}
        layout["yaxis"] = {**layout.get("yaxis", {}), "range": [y0, y1], "autorange": False}
        layout["uirevision"] = f"{layout.get('uirevision', '')}@{x0:.6g},{x1:.6g},{y0:.6g},{y1:.6g}"
        windowed = FrozenFigure(go.Figure())
        windowed._frozen_dict = {**base, "layout": layout}
        return windowed

    @classmethod
    def from_dict(cls, figure: dict) -> FrozenFigure:
        """A figure given as its finished dict (e.g. a restyled copy of another's), shown as is.

        As with from_json, only the dict exists: nothing but st.plotly_chart reads it.
        """
        frozen = cls(go.Figure())
        frozen._frozen_dict = figure
        return frozen

    @classmethod
    def from_json(cls, text: str) -> FrozenFigure:
        """A figure that another process built and serialised (plotly JSON), shown as it is.

        Only its dict exists here: its go.Figure side is empty (nothing reads it but
        st.plotly_chart, which only calls to_dict()), and it is never validated again.
        """
        return cls.from_dict(json.loads(text))

"""ui/frozen_figure.py: a cached figure is serialised once, and exactly as the original."""

from __future__ import annotations

import json

import numpy as np
import plotly.io as pio
import plotly.tools

from ui.frozen_figure import FrozenFigure
from viz.latent_map import latent_map_figure


def streamlit_spec(figure) -> str:
    """What st.plotly_chart (1.67) sends for a figure: its two serialisation steps."""
    as_dict = plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True)
    return pio.to_json(as_dict, validate=False)


def a_map():
    rng = np.random.default_rng(0)
    mu = rng.standard_normal((200, 2)).astype(np.float32)
    sigma = np.abs(rng.standard_normal((200, 2))).astype(np.float32) * 0.2
    labels = rng.integers(0, 10, 200)
    return latent_map_figure(mu, sigma, labels, color_kind="class", class_names=tuple("0123456789"))


def test_a_frozen_figure_sends_exactly_what_the_original_sends() -> None:
    original = a_map()
    expected = streamlit_spec(original)
    frozen = FrozenFigure(original)
    assert streamlit_spec(frozen) == expected
    assert streamlit_spec(frozen) == expected  # and again: nothing was changed by sending
    assert json.loads(expected)["data"], "the map has traces"
    assert streamlit_spec(original) == expected  # the original is left as it was


def test_the_dict_is_computed_once_and_the_figure_reads_like_the_original() -> None:
    original = a_map()
    frozen = FrozenFigure(original)
    assert frozen.to_dict() is frozen.to_dict()
    assert frozen.layout.height == original.layout.height
    assert [t.name for t in frozen.data] == [t.name for t in original.data]


def test_a_figure_serialised_elsewhere_is_sent_as_it_came() -> None:
    original = a_map()
    frozen = FrozenFigure.from_json(pio.to_json(original, validate=False))
    assert json.loads(streamlit_spec(frozen)) == json.loads(streamlit_spec(original))

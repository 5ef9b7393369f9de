"""AppTest of the Latent map and Interpolate pages, with and without a model.

The decode panels read the chosen z from session state (vx_clicked_z / vx_clicked_index,
vx_path), so these tests set it directly, as a click on the map would, and look for the
decoded images.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from streamlit.testing.v1 import AppTest

from runner.frames import read_frame
from tests.hostile import shown
from ui.active_model import ActiveModel
from ui.latent_panel import epsilon
from vae import VAE, ModelConfig

TIMEOUT = 60
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def active() -> ActiveModel:
    """A small untrained MLP VAE on sklearn digits: the pages only need shapes to be right."""
    from vae.data import Dataset

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    dataset = Dataset(
        name="digits",
        x_train=x[:1500],
        x_test=x[1500:],
        y_train=y[:1500],
        y_test=y[1500:],
        image_shape=(8, 8),
        likelihood="bernoulli",
        label_kind="class",
        class_names=tuple(str(i) for i in range(10)),
        preprocessing={"scale": "divide by 16"},
        description="test digits",
    )
    torch.manual_seed(0)
    model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(32,))).eval()
    return ActiveModel(
        key="test:digits",
        name="test-model",
        model=model,
        metadata={"dataset": "digits"},
        dataset=dataset,
        source="session",
    )


def _page(path: str, active: ActiveModel | None, **state) -> AppTest:
    """Run `path` through app.py's navigation (page links need it) with this session state."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["vx_active_model"] = active
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(path)
    return at.run()


@pytest.mark.parametrize("path", ["pages/latent_map.py", "pages/interpolate.py"])
def test_pages_without_model_point_to_a_model(path: str) -> None:
    at = _page(path, None)
    assert not at.exception
    assert "No model yet" in at.info[0].value


def test_latent_map_draws_the_map_and_asks_for_a_click(active: ActiveModel) -> None:
    at = _page("pages/latent_map.py", active)
    assert not at.exception
    assert any("Click anywhere" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 1
    # the decoded picture's box (a placeholder until the first click) is the browser's
    (decoder,) = [c for c in at.get("bidi_component") if c.key == "map_decoded"]
    header, _ = read_frame(io.BytesIO(decoder.proto.bytes))
    assert header["z"] is None


def test_a_click_means_the_clicked_points_exact_mean_or_the_empty_z() -> None:
    """What the map layer's click callback stores (the one writer of vx_clicked_z/_index)."""
    from ui.components.map_layer import MapClick, parse_click

    mu = np.array([[0.125, -0.25], [1.0, 2.0]], dtype=np.float64)
    assert parse_click({"x": 0.25, "y": -0.5, "index": None}, mu) == MapClick((0.25, -0.5), None)
    assert parse_click({"x": 9.0, "y": 9.0, "index": 1}, mu) == MapClick((1.0, 2.0), 1)
    # no such point: empty space at the clicked z
    assert parse_click({"x": 1.0, "y": 1.0, "index": 10_000}, mu) == MapClick((1.0, 1.0), None)
    for bad in (None, "x", {"x": "a", "y": 1}, {"x": float("nan"), "y": 0.0}, {"y": 1.0}):
        assert parse_click(bad, mu) is None


def test_a_window_from_the_browser_is_checked() -> None:
    from ui.components.map_layer import parse_window

    assert parse_window([-1, 1, -2, 2.5]) == [-1.0, 1.0, -2.0, 2.5]
    for bad in (None, [0, 1, 2], [1, 0, 0, 1], [0, 1, 0, float("inf")], ["a", 1, 0, 1]):
        assert parse_window(bad) is None


def _layer_header(at: AppTest, key: str = "map_layer") -> tuple[dict, bytes]:
    (layer,) = [c for c in at.get("bidi_component") if c.key == key]
    return read_frame(io.BytesIO(layer.proto.bytes))[0], layer.proto.bytes


def test_the_bubbles_go_to_the_browser_once_as_float32(active: ActiveModel) -> None:
    at = _page("pages/latent_map.py", active)
    assert not at.exception
    header, payload = _layer_header(at)
    n = len(active.dataset.x_test)
    assert header["data"] and header["n"] == n and header["k"] == 1.0
    _, arrays = read_frame(io.BytesIO(payload))
    assert {name: a.dtype for name, a in arrays.items()} == dict.fromkeys(
        ("mu", "sigma", "color"), np.float32
    )
    from ui.view_cache import compute_latent_view

    view = compute_latent_view(active.model, active.dataset)
    np.testing.assert_allclose(arrays["mu"], view.mu, rtol=1e-6)
    np.testing.assert_allclose(arrays["sigma"], view.sigma, rtol=1e-6)
    at.run()  # the next run: the header only, the browser keeps the arrays by their id
    again, payload = _layer_header(at)
    assert again["id"] == header["id"] and not again["data"]
    assert read_frame(io.BytesIO(payload))[1] == {}


def test_the_clicked_points_samples_are_drawn_on_the_map(active: ActiveModel) -> None:
    """z = mu + sigma * eps: the same samples the panel decodes, inside the point's bubble."""
    at = _page("pages/latent_map.py", active, vx_clicked_z=(0.0, 0.0), vx_clicked_index=7)
    assert not at.exception
    header, _ = _layer_header(at)
    assert header["index"] == 7 and header["clicked"] == [0.0, 0.0]
    samples = np.array(header["samples"])
    assert samples.shape == (6, 2)
    from ui.view_cache import compute_latent_view

    view = compute_latent_view(active.model, active.dataset)
    eps = (samples - view.mu[7]) / view.sigma[7]
    # the eps of seed 0 and point 7, as the browser's panel draws them (its own copy of the
    # generator: tests/test_click_panel.py)
    np.testing.assert_allclose(eps, epsilon(0, 7), rtol=1e-5, atol=1e-5)


def test_colour_by_and_bubbles_keep_the_zoom(active: ActiveModel) -> None:
    """The window the browser reported is the window of the next map, whatever its options."""
    window = [-0.5, 0.75, -0.25, 0.5]
    at = _page("pages/latent_map.py", active, vx_map_window=window)
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["range"] == window[:2]
    at.selectbox(key="map_color_by").set_value("KL to prior")
    at.radio(key="map_bubbles").set_value("2σ")
    at.run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["range"] == window[:2]
    assert spec["layout"]["yaxis"]["range"] == window[2:]
    header, _ = _layer_header(at)
    assert header["k"] == 2.0


def test_latent_map_decodes_a_clicked_empty_z(active: ActiveModel) -> None:
    at = _page("pages/latent_map.py", active, vx_clicked_z=(0.5, -1.25), vx_clicked_index=None)
    assert not at.exception
    # the picture is drawn by the browser (an MLP decoder): its weights and the z, no st.image
    (decoder,) = [c for c in at.get("bidi_component") if c.key == "map_decoded"]
    header, _ = read_frame(io.BytesIO(decoder.proto.bytes))
    linear = [op for op in header["decoder"]["ops"] if op["op"] == "linear"]
    assert header["z"] == [0.5, -1.25] and linear[0]["in"] == 2 and linear[-1]["out"] == 64
    # and so is the rest of the panel (ui/components/click_panel.js): nothing from the server
    panel, _ = _layer_header(at, "map_click_panel")
    assert panel["clicked"] == [0.5, -1.25] and panel["index"] is None
    assert len(at.get("image")) == 0 and not any("z = (" in md.value for md in at.markdown)


def test_latent_map_sends_the_browser_the_points_pictures_once(active: ActiveModel) -> None:
    at = _page("pages/latent_map.py", active, vx_clicked_z=(0.0, 0.0), vx_clicked_index=7)
    assert not at.exception
    panel, payload = _layer_header(at, "map_click_panel")
    n = len(active.dataset.x_test)
    assert panel["data"] and panel["n"] == n and panel["index"] == 7 and panel["n_samples"] == 6
    assert panel["class_names"] == list(active.dataset.class_names)
    assert payload.endswith(b"IEND\xaeB`\x82")  # the atlas, a whole PNG, closes the payload
    layer, _ = _layer_header(at)
    assert layer["notice_ms"] > 0  # the server hears of a click later
    assert len(at.get("image")) == 0  # the original and the ε strip are drawn by the browser
    at.run()  # the next run: the header only
    again, payload = _layer_header(at, "map_click_panel")
    assert not again["data"] and len(payload) < 4 + 2000


def test_latent_map_shows_the_server_panel_when_the_browser_cannot_decode(
    active: ActiveModel, monkeypatch
) -> None:
    # A decoder the browser cannot run (too big, or layers it lacks): the fragment's server
    # panel, with the click at once.
    monkeypatch.setattr("ui.components.map_decoder.browser_decoder_net", lambda model: None)
    monkeypatch.setattr("ui.components.click_panel.browser_decoder", lambda model: None)
    at = _page("pages/latent_map.py", active, vx_clicked_z=(0.0, 0.0), vx_clicked_index=7)
    assert not at.exception
    assert any("test point #7" in md.value for md in at.markdown)
    assert not [c for c in at.get("bidi_component") if c.key == "map_click_panel"]
    layer, _ = _layer_header(at)
    assert layer["notice_ms"] == 0
    # reconstruction and original side by side, then one strip of the N_SAMPLES decodes
    captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert len(captions) == 3 and "decoded from μ" in captions[0] and "original" in captions[1]


@pytest.mark.parametrize("color_by", ["σ (posterior std)", "KL to prior", "reconstruction error"])
@pytest.mark.parametrize("bubbles", ["off", "2σ"])
def test_latent_map_options(active: ActiveModel, color_by: str, bubbles: str) -> None:
    at = _page("pages/latent_map.py", active)
    at.selectbox(key="map_color_by").set_value(color_by)
    at.radio(key="map_bubbles").set_value(bubbles)
    at.checkbox(key="map_prior").check()
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1


def test_interpolate_offers_a_default_path(active: ActiveModel) -> None:
    at = _page("pages/interpolate.py", active)
    assert not at.exception
    assert len(at.session_state["vx_path"]) == 2  # two test points of different classes
    assert len(at.get("plotly_chart")) == 1  # the map with the path
    scrub = _scrubber_data(at)  # the decoded path, sent once to the browser's scrubber
    assert scrub["steps"] == len(scrub["path"]) > 50 and scrub["sprite"]["w"] == 8
    assert np.allclose(scrub["waypoints"], at.session_state["vx_path"], atol=1e-4)
    assert len(at.get("image")) == 1  # the strip
    assert len(at.get("download_button")) == 2  # PNG strip and GIF


def _scrubber_data(at: AppTest) -> dict:
    (scrub,) = [c for c in at.get("bidi_component") if c.key == "interp_scrub"]
    return json.loads(scrub.proto.json)


def test_interpolate_with_waypoints_in_state(active: ActiveModel) -> None:
    path = [(-1.0, -1.0), (0.5, 1.5), (2.0, -0.5)]
    at = _page("pages/interpolate.py", active, vx_path=path, vx_interp_seeded="test:digits")
    at.radio(key="interp_mode").set_value("spherical")
    at.slider(key="interp_frames").set_value(5)
    at.run()
    assert not at.exception
    assert at.session_state["vx_path"] == path
    assert any("(-1.00, -1.00)" in c.value and "(2.00, -0.50)" in c.value for c in at.caption)
    scrub = _scrubber_data(at)
    assert np.allclose(scrub["path"][0], path[0]) and np.allclose(scrub["path"][-1], path[-1])
    assert np.allclose(scrub["waypoints"], path)


def test_interpolate_adds_the_clicked_z(active: ActiveModel) -> None:
    at = _page(
        "pages/interpolate.py",
        active,
        vx_path=[(0.0, 0.0)],
        vx_interp_seeded="test:digits",
        vx_clicked_z=(1.0, 2.0),
    )
    assert any("until there are two waypoints" in i.value for i in at.info)  # no path yet
    at.button(key="interp_add_clicked").click().run()
    assert not at.exception
    assert at.session_state["vx_path"] == [(0.0, 0.0), (1.0, 2.0)]
    assert len(at.get("plotly_chart")) == 1
    assert np.allclose(_scrubber_data(at)["path"][-1], (1.0, 2.0))


def test_a_rerun_does_not_serialise_the_map_again(active: ActiveModel, monkeypatch) -> None:
    """The cached map is frozen (ui/frozen_figure.py): a rerun sends the same spec (the chart
    keeps its identity and zoom) without converting the figure to a dict again."""
    from plotly.basedatatypes import BaseFigure

    at = _page("pages/latent_map.py", active)
    first = at.get("plotly_chart")[0].proto.spec
    conversions = []
    to_dict = BaseFigure.to_dict
    monkeypatch.setattr(BaseFigure, "to_dict", lambda self: conversions.append(1) or to_dict(self))
    at.run()
    assert not at.exception
    assert at.get("plotly_chart")[0].proto.spec == first
    assert conversions == []


def test_a_points_label_is_escaped_for_markdown_on_the_map_and_in_the_inference_lab():
    from ui.latent_panel import point_label
    from ui.view_cache import LatentView

    hostile = ("![x](http://evil.example/i.png)", "[click](http://phish.example)")
    view = LatentView(x=np.zeros((2, 1)), y=np.array([0, 1]), mu=np.zeros((2, 2)),
                      sigma=np.ones((2, 2)), kl=np.zeros(2), recon_nll=np.zeros(2),
                      label_kind="class", class_names=hostile)  # fmt: skip
    for index, name in enumerate(hostile):
        label = point_label(view, index)
        assert "](" not in label and name.strip("!") not in label  # no link, no image
        assert shown(label) == f" · {name}"  # the same text, shown literally
    unlabelled = LatentView(x=np.zeros((1, 1)), y=None, mu=np.zeros((1, 2)),
                            sigma=np.ones((1, 2)), kl=np.zeros(1), recon_nll=np.zeros(1),
                            label_kind=None, class_names=None)  # fmt: skip
    assert point_label(unlabelled, 0) == ""

"""AppTest of the Draw & encode page: the pad mounted with the model's weights, a finished
drawing becomes the input the Inference lab reads, and models the pad cannot serve get a
sentence instead of a traceback."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from runner.frames import read_frame
from ui.active_model import ActiveModel
from vae import VAE, ModelConfig

TIMEOUT = 60
ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/draw.py"


def _active(image_shape=(8, 8), latent_dim: int = 2, name: str = "digits") -> ActiveModel:
    from vae.data import Dataset

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    if image_shape is None:  # vectors, not images (as a swiss roll's 3-D points are)
        x = x[:, :3]
    dataset = Dataset(
        name=name,
        x_train=x[:1500],
        x_test=x[1500:],
        y_train=y[:1500],
        y_test=y[1500:],
        image_shape=image_shape,
        likelihood="bernoulli",
        label_kind="class",
        class_names=tuple(str(i) for i in range(10)),
        preprocessing={"kind": "divide", "by": 16.0},
        description="test digits",
    )
    torch.manual_seed(0)
    config = ModelConfig(
        input_dim=x.shape[1], image_shape=image_shape, hidden=(32,), latent_dim=latent_dim
    )
    return ActiveModel(
        key=f"test:{name}:{latent_dim}",
        name="test-model",
        model=VAE(config).eval(),
        metadata={"dataset": name},
        dataset=dataset,
        source="session",
    )


def _page(active: ActiveModel | None, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["vx_active_model"] = active
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(PAGE)
    return at.run()


def _pad(at: AppTest):
    (pad,) = [c for c in at.get("bidi_component") if c.key == "draw_pad"]
    return pad


def _header(at: AppTest) -> dict:
    return read_frame(io.BytesIO(_pad(at).proto.bytes))[0]


def test_without_a_model_the_page_points_to_one() -> None:
    at = _page(None)
    assert not at.exception
    assert "No model yet" in at.info[0].value


def test_the_pad_comes_with_the_models_encoder_and_decoder() -> None:
    at = _page(_active())
    assert not at.exception
    header = _header(at)
    assert header["image_shape"] == [8, 8]
    assert header["encoder"]["weights"] and header["decoder"]["weights"]
    assert header["encoder"]["ops"][0] == {"op": "linear", "in": 64, "out": 32}
    # A new model bounds sigma (ModelConfig.max_posterior_sigma = 3): the browser applies the
    # same soft ceiling to log sigma^2 as VAE.encode does.
    assert header["encoder"]["posterior"] == {
        "kind": "softclamp",
        "max": pytest.approx(2 * math.log(3.0)),
    }
    # the framing is measured on the test digits: they fill their 8x8 frame
    assert header["framing"]["fill"] == pytest.approx(1.0)
    assert 0 < len(header["map"]["points"]) <= 1500
    assert at.button(key="draw_send").disabled  # nothing drawn yet
    # a second run of the page sends the header only: the browser keeps the weights
    assert not _header(at.run())["encoder"]["weights"]


def _finish_a_stroke(at: AppTest, x: list[float]) -> AppTest:
    """What drawing_pad.js does at a stroke's end: setStateValue("image", {x, strokes, at})."""
    states = at._tree.get_widget_states()
    value = WidgetState(id=_pad(at).proto.id)
    value.json_value = json.dumps({"image": {"x": x, "strokes": 1, "at": 1}})
    states.widgets.append(value)
    at._run(states)
    return at


def test_a_finished_drawing_is_sent_to_the_inference_lab() -> None:
    active = _active()
    at = _page(active)
    x = [0.0] * 64
    x[27] = x[28] = 1.0
    _finish_a_stroke(at, x)
    assert not at.exception
    assert at.session_state["vx_draw_current"]["source"] == "drawing"
    assert not at.button(key="draw_send").disabled
    mu, _ = active.model.encode(torch.as_tensor([x]))
    assert any(f"μ = ({mu[0, 0]:.3f}" in c.value for c in at.caption)  # the server's μ
    at.button(key="draw_send").click().run()
    assert not at.exception
    sent = at.session_state["vx_inference_input"]
    assert sent == {"x": x, "source": "drawing", "name": "drawing"}
    inference_page = (ROOT / "pages" / "inference.py").exists()
    assert inference_page or "Stored for the Inference lab" in at.success[0].value


@pytest.mark.parametrize(
    ("active", "says"),
    [
        (_active(image_shape=None, name="swiss-roll"), "not images"),
        (_active(latent_dim=3), "3-D latent space"),
    ],
)
def test_models_the_pad_cannot_serve_get_a_sentence(active: ActiveModel, says: str) -> None:
    at = _page(active)
    assert not at.exception
    assert says in at.info[0].value
    assert not [c for c in at.get("bidi_component") if c.key == "draw_pad"]


def test_an_upload_from_another_model_is_dropped() -> None:
    stale = {"x": [0.5] * 784, "source": "upload", "name": "shirt.png"}  # a 28x28 model's
    at = _page(_active(), vx_draw_current=stale)
    assert not at.exception
    assert at.session_state["vx_draw_current"] is None
    assert _header(at)["input"] is None

"""AppTest of the Inference lab page through app.py's navigation, on a small digits model."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from ui.active_model import ActiveModel
from vae import VAE, ModelConfig, TrainConfig, train
from vae.data import load_dataset

TIMEOUT = 180
ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/inference.py"


@pytest.fixture(autouse=True)
def library_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(folder))
    return folder


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def trained_digits_model(digits, latent_dim: int = 2) -> VAE:
    torch.manual_seed(0)
    config = ModelConfig(
        input_dim=digits.input_dim, image_shape=digits.image_shape, hidden=(32,),
        latent_dim=latent_dim,
    )  # fmt: skip
    model = VAE(config)
    train(model, digits.x_train, None, TrainConfig(epochs=3, batch_size=64, snapshot_latents=False))
    return model.eval()


@pytest.fixture(scope="module")
def active(digits) -> ActiveModel:
    return ActiveModel(
        key="test:inference", name="tiny digits", model=trained_digits_model(digits), metadata={},
        dataset=digits, source="session",
    )  # fmt: skip


def open_page(active: ActiveModel | None, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if active is not None:
        at.session_state["vx_active_model"] = active
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def table(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_page_without_a_model_points_to_where_one_comes_from():
    at = open_page(None)
    assert "No model yet" in "\n".join(i.value for i in at.info)


def test_the_clicked_point_opens_with_its_posterior_numbers_and_estimators(active):
    # a click on test point 7 leaves its z (its μ; any z here) and its index
    at = open_page(active, vx_clicked_z=(0.0, 0.0), vx_clicked_index=7, inf_k_max=1_000, inf_runs=3)
    assert at.number_input(key="inf_index").value == 7
    assert "test point #7" in table(at)
    titles = chart_titles(at)
    assert "exact posterior p(z|x) against q" in titles
    assert "estimators of log p(x) against k" in titles
    # The numbers' table: log p(x) >= ELBO(q*) >= ELBO(q_enc), and KL = log p(x) − ELBO.
    rows = {}  # label -> first number of the row; labels hold escaped pipes (p(z\|x))
    for line in table(at).splitlines():
        cells = line.strip("| ").split(" | ")
        if len(cells) == 2 and cells[1][:1] in "-*0123456789":
            rows[cells[0]] = float(cells[1].split()[0].strip("*"))

    def number(start: str) -> float:
        return next(v for k, v in rows.items() if k.startswith(start))

    log_px, enc, best = number("log p(x)"), number("ELBO(q_encoder)"), number("ELBO(q\\*)")
    assert log_px >= best >= enc
    assert number("KL(q_enc ‖ p(z\\|x)) = ") == pytest.approx(log_px - enc, abs=2e-3)
    assert number("KL(q_enc ‖ p(z\\|x)) on") == pytest.approx(log_px - enc, abs=0.05)


def test_across_the_test_set_and_the_large_gap_button(active):
    at = open_page(active, inf_k_max=1_000, inf_runs=3)
    at.select_slider(key="inf_gap_n").set_value(50).run()
    at.button(key="inf_gap_go").click().run()
    assert not at.exception
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 3  # the posterior, the estimators, the gaps
    subplot_titles = str(charts[2]["layout"].get("annotations", []))
    assert "approximation gap" in subplot_titles and "amortisation gap" in subplot_titles
    assert sum(t["type"] == "histogram" for t in charts[2]["data"]) == 3
    assert "Means over 50 points" in "\n".join(c.value for c in at.caption)
    at.button(key="inf_large_gap").click().run()
    assert not at.exception
    chosen = at.number_input(key="inf_index").value
    assert 0 <= chosen < 100
    assert f"test point #{chosen}" in table(at)
    # The gaps of those 50 points are now a colouring of the Latent map; the others are grey.
    at.switch_page("pages/latent_map.py").run()
    assert not at.exception
    assert "approximation gap" in at.selectbox(key="map_color_by").options
    at.selectbox(key="map_color_by").set_value("approximation gap").run()
    assert not at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    coloured = next(t for t in figure["data"] if t.get("name") == "log p(x) − ELBO(q*) (nats)")
    grey = next(t for t in figure["data"] if t.get("name") == "no value")
    scored, unscored = (set(_plotly_array(t["customdata"]).tolist()) for t in (coloured, grey))
    # the first test points, as many as the largest sample the page computed (50 here, 100 for
    # the large-gap button)
    assert len(scored) >= 50 and scored == set(range(len(scored)))
    assert unscored and not scored & unscored


def _plotly_array(value) -> np.ndarray:
    """An array as Plotly's JSON carries it: typed bytes in base64, or a plain list."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


def test_a_model_without_a_2d_latent_space_gets_a_clear_message(digits):
    three = ActiveModel(
        key="test:3d", name="3-D", model=trained_digits_model(digits, latent_dim=3), metadata={},
        dataset=digits, source="session",
    )  # fmt: skip
    at = open_page(three)
    assert "needs a 2-D latent space" in "\n".join(i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_a_picture_sent_from_draw_and_encode_is_shown_instead_of_a_test_point(active, digits):
    picture = {"x": [float(v) for v in digits.x_test[3]], "source": "upload", "name": "three.png"}
    at = open_page(active, vx_inference_input=picture, inf_k_max=1_000, inf_runs=3)
    assert at.toggle(key="inf_use_drawing").value
    assert r"**three\.png**" in table(at)  # the file name, escaped: shown as it is
    assert "exact posterior p(z|x) against q" in chart_titles(at)
    at.toggle(key="inf_use_drawing").set_value(False).run()
    assert not at.exception
    assert "test point #0" in table(at)


# --- which x is scored: binary samples of a binarised model, a note for a grey-level one ------


def _with_metadata(active: ActiveModel, key: str, binarized: bool) -> ActiveModel:
    """The same weights, described as trained with or without dynamic binarisation."""
    metadata = {
        "model_config": active.model.config.to_dict(),
        "train_config": TrainConfig(dynamic_binarization=binarized).to_dict(),
    }
    return ActiveModel(key=key, name=key, model=active.model, metadata=metadata,
                       dataset=active.dataset, source="session")  # fmt: skip


def _log_px_shown(at: AppTest) -> float:
    line = next(ln for ln in table(at).splitlines() if ln.startswith("| log p(x), exact"))
    return float(line.split("|")[2].split()[0].strip("*"))


def _brute_force_log_px(model: VAE, x: np.ndarray) -> float:
    """log p(x) = log ∫ p(x|z) N(z; 0, I) dz on a fine 2-D grid, by plain torch (no vae.inference)."""
    step = 0.01
    axis = torch.arange(-7.0, 7.0 + step / 2, step, dtype=torch.float64)
    zz = torch.cartesian_prod(axis, axis)  # (G, 2)
    with torch.no_grad():
        logits = torch.cat([model.decode(c.float()).double() for c in zz.split(65536)])
    target = torch.as_tensor(x, dtype=torch.float64).expand_as(logits)
    log_lik = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, reduction="none"
    ).sum(-1)
    log_prior = -0.5 * (zz**2).sum(-1) - np.log(2 * np.pi)
    return float(torch.logsumexp(log_lik + log_prior, 0) + 2 * np.log(step))


def _picture_captions(at: AppTest) -> list[str]:
    return [caption for element in at.get("image") for caption in element.captions]


def test_a_binarised_model_is_scored_on_a_binary_sample_shown_beside_the_grey_x(active):
    from vae.scoring import binary_sample

    binarized = _with_metadata(active, "test:binarised", binarized=True)
    at = open_page(
        binarized, vx_clicked_z=(0.0, 0.0), vx_clicked_index=5, inf_k_max=1_000, inf_runs=3
    )
    assert at.number_input(key="inf_draw").value == 0
    assert _picture_captions(at) == ["grey original", "x scored: binary sample #0"]
    assert not [w for w in at.warning if "Not a log-likelihood" in w.value]
    grey = active.dataset.x_test[5]
    sample = binary_sample(grey, 0)
    assert set(np.unique(sample)) <= {0.0, 1.0} and not np.array_equal(sample, grey)
    shown = _log_px_shown(at)
    assert shown == pytest.approx(_brute_force_log_px(active.model, sample), abs=0.01)
    # "New sample" scores the next draw: another picture, its own log p(x).
    at.button(key="inf_new_sample").click().run()
    assert not at.exception
    assert at.number_input(key="inf_draw").value == 1
    assert _picture_captions(at)[1] == "x scored: binary sample #1"
    other = binary_sample(grey, 1)
    assert not np.array_equal(other, sample)
    assert _log_px_shown(at) == pytest.approx(_brute_force_log_px(active.model, other), abs=0.01)


def test_a_grey_level_bernoulli_model_says_its_numbers_are_not_likelihoods(active):
    grey = _with_metadata(active, "test:grey", binarized=False)
    at = open_page(grey, vx_clicked_z=(0.0, 0.0), vx_clicked_index=5, inf_k_max=1_000, inf_runs=3)
    assert not at.exception
    assert not [n for n in at.number_input if n.key == "inf_draw"]
    assert _picture_captions(at) == ["x"]
    notes = [w.value for w in at.warning if w.value.startswith("Not a log-likelihood")]
    assert len(notes) == 1  # beside the table of log p(x) and the ELBOs
    assert any("not a log-likelihood" in c.value for c in at.caption)  # beside the estimators
    # It scores the grey levels as they are.
    x = active.dataset.x_test[5]
    assert _log_px_shown(at) == pytest.approx(_brute_force_log_px(active.model, x), abs=0.01)

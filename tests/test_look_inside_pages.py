"""AppTest of the "Look inside" pages without a page test of their own (Manifold, Aggregate
posterior, Compare, 3-D picture, β), with and without a model, and links and presenter mode
opened on them, through app.py's navigation.

A digits VAE trained for a few epochs stands in for a real model; the 3-D and β pages train
their own tiny models, shortened here by monkeypatching the quick-training schedules.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import vae.recipes as explore_train
from ui.active_model import ActiveModel
from vae import TrainConfig
from vae.data import load_dataset
from vae.library import ModelLibrary
from vae.recipes import quick_train

TIMEOUT = 120
ROOT = Path(__file__).resolve().parent.parent
EXPLORE_PAGES = [
    "pages/manifold.py",
    "pages/surface_3d.py",
    "pages/compare.py",
    "pages/aggregate.py",
    "pages/beta.py",
]


@pytest.fixture(autouse=True)
def library_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(folder))
    return folder


@pytest.fixture(autouse=True)
def short_training(monkeypatch):
    """Pages train toy models in-line: a couple of epochs is enough to exercise them."""
    monkeypatch.setattr(explore_train, "TOY_TRAIN", replace(explore_train.TOY_TRAIN, epochs=2))
    monkeypatch.setattr(explore_train, "PAIR_TRAIN", replace(explore_train.PAIR_TRAIN, epochs=2))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def digits_model(digits):
    return quick_train(
        digits, "tiny digits", config=TrainConfig(epochs=3, batch_size=64), hidden=(64,)
    )


@pytest.fixture
def active(digits_model, digits) -> ActiveModel:
    return ActiveModel(
        key="test:tiny", name="tiny digits", model=digits_model.model,
        metadata=dict(digits_model.metadata), dataset=digits, source="session",
    )  # fmt: skip


@pytest.fixture(scope="module")
def roll_active() -> ActiveModel:
    roll = load_dataset("swiss-roll")
    q = quick_train(roll, "tiny roll", config=TrainConfig(epochs=2, batch_size=256), hidden=(32,))
    return ActiveModel(
        key="test:roll", name="tiny roll", model=q.model, metadata=q.metadata,
        dataset=roll, source="session",
    )  # fmt: skip


def app(active: ActiveModel | None = None, **state) -> AppTest:
    """app.py, not run yet, with `active` as the active model and `state` in session state."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if active is not None:
        at.session_state["vx_active_model"] = active
    for key, value in state.items():
        at.session_state[key] = value
    return at


def open_page(path: str, active: ActiveModel | None = None, **state) -> AppTest:
    """Run app.py once, then switch to `path` through the navigation and run it."""
    at = app(active, **state).run()
    assert not at.exception, at.exception
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def title(chart) -> str:
    return json.loads(chart.proto.spec)["layout"]["title"]["text"]


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += (
        [i.value for i in at.info] + [w.value for w in at.warning] + [e.value for e in at.error]
    )
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize(
    "page", [p for p in EXPLORE_PAGES if p != "pages/surface_3d.py" and p != "pages/beta.py"]
)
def test_page_without_a_model_points_to_where_one_comes_from(page):
    at = open_page(page)
    assert "No model yet" in texts(at)


def test_manifold_grid_spacings_layouts_and_resample(active):
    at = open_page("pages/manifold.py", active)
    assert len(at.get("plotly_chart")) >= 1
    at.radio(key="manifold_spacing").set_value("Gaussian quantiles").run()
    at.radio(key="manifold_layout").set_value("under the map").run()
    assert not at.exception
    seed = at.session_state["vx_manifold_seed"]
    at.button(key="manifold_resample").click().run()
    assert at.session_state["vx_manifold_seed"] == seed + 1
    assert not at.exception


def test_aggregate_density_holes_forces_and_csv(active):
    at = open_page("pages/aggregate.py", active)
    labels = [m.label for m in at.metric]
    assert "holes" in labels and "KL(q(z) ‖ p(z))" in labels
    assert len(at.get("plotly_chart")) == 2
    at.select_slider(key="agg_resolution").set_value(100).run()
    at.select_slider(key="agg_ratio").set_value(0.5).run()  # more holes: their decodes are drawn
    assert not at.exception
    assert any(k[1] == "aggregate" and k[2] == 100 for k in at.session_state["vx_explore_cache"])


def test_compare_embeddings_knn_and_highlights(active):
    at = open_page("pages/compare.py", active, vx_selected=[0, 5])
    caption = texts(at)
    assert "k-NN" in caption and "PCA keeps" in caption
    fig = at.get("plotly_chart")[0].proto.spec
    assert '"highlighted"' in fig  # the selected points are drawn in every panel
    at.selectbox(key="compare_class").set_value(3).run()
    assert not at.exception
    at.button(key="compare_clear").click().run()
    assert at.session_state["vx_selected"] == []


def test_surface_3d_trains_a_toy_model_and_marks_a_clicked_z():
    at = open_page("pages/surface_3d.py")
    assert "Train a model on the swiss roll" in texts(at)
    at.button(key="s3d_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    trained = at.session_state["vx_s3d_models"]["swiss-roll"]
    figures = at.get("plotly_chart")
    assert len(figures) == 2
    at.session_state["vx_s3d_z"] = (0.5, -0.5)
    at.run()
    assert "decoded clicked z" in at.get("plotly_chart")[0].proto.spec
    at.button(key="s3d_activate").click().run()
    assert at.session_state["vx_active_model"].key == trained[0]
    assert not at.exception


def test_surface_3d_uses_an_active_3d_model(roll_active):
    at = open_page("pages/surface_3d.py", roll_active, vx_clicked_z=(0.1, 0.2))
    assert at.selectbox(key="s3d_source").value == "the active model"
    assert "decoded clicked z" in at.get("plotly_chart")[0].proto.spec
    at.selectbox(key="s3d_source").set_value("s-curve").run()
    assert not at.exception


def test_surface_3d_with_an_image_model_offers_toy_training(active):
    at = open_page("pages/surface_3d.py", active)
    assert at.selectbox(key="s3d_source").value == "swiss-roll"


def test_beta_pair_trained_side_by_side_with_elbo_terms():
    at = open_page("pages/beta.py")
    assert "Train both" in texts(at)
    at.button(key="beta_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # two maps and the ELBO terms
    assert title(charts[0]).startswith("β = 0.2") and title(charts[1]).startswith("β = 1")
    models = at.session_state["vx_beta_pair"]["models"]
    assert models[0][1].config == models[1][1].config  # only beta differs


def test_beta_saved_models(active, library_dir):
    library = ModelLibrary(library_dir)
    for beta in (1.0, 3.0):
        meta = dict(active.metadata, train_config=dict(active.metadata["train_config"], beta=beta))
        library.save(f"digits b{beta:g}", active.model, meta)
    at = open_page("pages/beta.py")
    at.radio(key="beta_source").set_value("two saved models").run()
    assert not at.exception, [e.value for e in at.exception]
    titles = " | ".join(title(c) for c in at.get("plotly_chart")[:2])
    assert "(β = 1.0)" in titles and "(β = 3.0)" in titles
    shown = texts(at)
    assert "only β differs (beta: 1 vs 3)" in shown or "only β differs (beta: 3 vs 1)" in shown
    assert "The model with the larger β (β = 3)" in shown  # read from the numbers shown


def test_beta_page_draws_no_beta_lesson_from_models_with_the_same_beta(active, digits, library_dir):
    """Two saved models with β = 1 that differ in width and epochs were described as "only β
    differs", with a β conclusion under their terms."""
    library = ModelLibrary(library_dir)
    library.save("wide", active.model, dict(active.metadata))
    narrow = quick_train(
        digits, "narrow", config=TrainConfig(epochs=2, batch_size=64), hidden=(32,)
    )
    library.save("narrow", narrow.model, dict(narrow.metadata))
    at = open_page("pages/beta.py")
    at.radio(key="beta_source").set_value("two saved models").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert "only β differs" not in shown and "The model with the larger β" not in shown
    assert "Both models have the same β" in shown
    assert "hidden: (64) vs (32)" in shown or "hidden: (32) vs (64)" in shown
    assert "epochs: 3 vs 2" in shown or "epochs: 2 vs 3" in shown


def test_config_differences_name_each_recipe_field_that_differs():
    from vae.config_diff import Difference, config_differences

    a = {
        "dataset": "mnist",
        "model_config": {"hidden": [64]},
        "train_config": {"beta": 1.0, "epochs": 3, "device": "cpu"},
    }
    b = {
        "dataset": "mnist",
        "model_config": {"hidden": [32]},
        "train_config": {"beta": 1.0, "epochs": 2, "device": "cuda"},
    }
    assert config_differences(a, b) == [
        Difference("hidden", [64], [32]),
        Difference("epochs", 3, 2),
    ]  # where it ran changes nothing learned
    assert config_differences(a, a) == []
    assert config_differences(a, {})[0] == Difference("dataset", "mnist", None)


def test_beta_saved_models_needs_two(active):
    at = open_page("pages/beta.py")
    at.radio(key="beta_source").set_value("two saved models").run()
    assert "Save at least two models" in texts(at)


def test_a_shared_link_restores_model_z_selection_path_and_presenter(active, library_dir):
    ModelLibrary(library_dir).save("shared", active.model, dict(active.metadata, name="shared"))
    at = app()
    at.query_params.update(
        {"model": "shared", "z": "0.5,-1", "sel": "1,2", "path": "0,0;1,1", "present": "1"}
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    state = at.session_state
    assert (
        state["vx_active_model"].name == "shared" and state["vx_active_model"].source == "library"
    )
    assert state["vx_clicked_z"] == (0.5, -1.0)
    assert state["vx_selected"] == [1, 2]
    assert state["vx_path"] == [(0.0, 0.0), (1.0, 1.0)]
    assert state["vx_presenter"] is True
    # The app writes the same view back: the address bar links to what is on screen.
    assert at.query_params["model"] == "shared" and at.query_params["z"] == "0.5,-1"


@pytest.mark.parametrize(
    "params",
    [{"z": "nan,1"}, {"model": "../../etc/passwd"}, {"model": "nobody"}, {"sel": "²"}, {"x": "1"}],
)
def test_bad_links_warn_and_keep_the_current_view(active, params):
    at = app(active)
    at.query_params.update(params)
    at.run()
    assert not at.exception
    assert at.warning, "a bad link must say so"
    assert at.session_state["vx_active_model"].key == active.key


def test_a_session_model_cannot_be_linked(active):
    at = app(active, vx_clicked_z=(1.0, 2.0)).run()
    assert "save it" in texts(at)
    assert "model" not in at.query_params and at.query_params["z"] == "1,2"


def test_presenter_mode_toggle(active):
    """The sidebar toggle sets presenter mode, and a link then carries it (present=1).

    AppTest re-executes only the page script on reruns, not app.py around it, so the link is
    checked on a first run; the "Exit presenter mode" button was checked in Chromium."""
    at = app(active).run()
    at.toggle(key="presenter_toggle").set_value(True).run()
    assert at.session_state["vx_presenter"] is True and not at.exception
    fresh = app(active, vx_presenter=True).run()
    assert not fresh.exception and fresh.query_params["present"] == "1"


@pytest.mark.parametrize("page", ["pages/manifold.py", "pages/compare.py", "pages/aggregate.py"])
def test_pages_with_a_3d_toy_model(roll_active, page):
    """Continuous labels (position t), no images: every page still says something useful."""
    at = open_page(page, roll_active)
    if page == "pages/manifold.py":
        assert "3-D picture" in texts(at)
    elif page == "pages/compare.py":
        assert "R²" in texts(at)
    else:
        assert at.metric

"""AppTest: every link the app writes reopens, and every kind of model can be given scenes.

The app is driven as a user drives it (a button opens the model, the address bar is read back)
and the link it wrote is opened in a new session: the shipped model, saved models with unusual
but legal names, a damaged scenes file beside good scenes, and values a link or a scene carries
that the model cannot have (a point number past its test set).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.active_model import ActiveModel
from ui.scenes import FILE_NAME
from vae import TrainConfig
from vae.data import load_dataset, local_idx_folder
from vae.library import ModelLibrary
from vae.recipes import quick_train

TIMEOUT = 180
ROOT = Path(__file__).resolve().parent.parent
MAP = "pages/latent_map.py"
INTERPOLATE = "pages/interpolate.py"
needs_fashion = pytest.mark.skipif(
    local_idx_folder("fashion-mnist") is None,
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(autouse=True)
def library_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(folder))
    return folder


@pytest.fixture(scope="module")
def trained():
    digits = load_dataset("digits")
    return quick_train(digits, "tiny", config=TrainConfig(epochs=2, batch_size=64), hidden=(32,))


def opened(params: dict[str, str], page: str | None = None, **state) -> AppTest:
    """A new session opening a link (app.py restores it on its first run), then `page`."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def link_of(at: AppTest) -> dict[str, str]:
    """The address bar's query parameters as the app wrote them."""
    return {k: at.query_params[k] for k in at.query_params}


def messages(at: AppTest) -> str:
    """Every alert's text, with plain()'s escapes removed (they show as the bare characters)."""
    return re.sub(r"\\(.)", r"\1", _raw_messages(at))


def _raw_messages(at: AppTest) -> str:
    parts = (
        [w.value for w in at.warning] + [e.value for e in at.error] + [s.value for s in at.success]
    )
    return "\n".join(parts + [i.value for i in at.info])


# --- links -------------------------------------------------------------------------------------


@pytest.mark.slow
@needs_fashion
def test_the_shipped_models_link_reopens_it():
    """Home's "Open Fashion-MNIST" writes a link; a new session opening it gets the model."""
    home = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    home.run()
    home.button(key="home_open_pretrained").click().run()
    assert not home.exception
    # AppTest runs app.py (which writes the address bar) on a session's first run only, so
    # the model Home opened is handed to a session that starts with it.
    writer = opened({}, vx_active_model=home.session_state["vx_active_model"])
    link = link_of(writer)
    assert link["model"] == "fashion-mnist" and link["src"] == "pretrained", link
    at = opened(link, MAP)
    active = at.session_state["vx_active_model"]
    assert active.name == "fashion-mnist (pretrained)" and not at.warning, messages(at)
    assert link_of(at)["model"] == "fashion-mnist"  # and it writes the same link back


@pytest.mark.slow
@needs_fashion
def test_a_link_written_before_the_source_parameter_still_opens():
    at = opened({"model": "fashion-mnist (pretrained)"})
    assert at.session_state["vx_active_model"].name == "fashion-mnist (pretrained)"
    assert link_of(at) == {"model": "fashion-mnist", "src": "pretrained"}


@pytest.mark.parametrize("name", ["my model", "v1.2-final_b", "a  b", "-lead", "9", "x" * 80])
def test_a_saved_model_with_an_unusual_name_reopens_from_its_link(trained, library_dir, name):
    ModelLibrary(library_dir).save(name, trained.model, dict(trained.metadata))
    first = opened({"model": name, "color": "kl"}, MAP)
    assert first.session_state["vx_active_model"].name == name
    link = link_of(first)
    assert link["model"] == name and "src" not in link
    again = opened(link, MAP)
    assert again.session_state["vx_active_model"].name == name and not again.warning
    assert again.selectbox(key="map_color_by").value == "KL to prior"


def test_a_shipped_name_that_is_not_shipped_is_one_clear_warning():
    at = opened({"model": "nothing-here", "src": "pretrained"})
    assert "not shipped with this app" in messages(at)
    assert at.session_state["vx_active_model"] is None


# --- values the model cannot have --------------------------------------------------------------


def test_a_point_number_past_the_test_set_is_dropped_with_a_message(trained, library_dir):
    """Interpolate's point input raised StreamlitValueAboveMaxError for ?i=9999999, and kept
    raising it for the rest of the session."""
    ModelLibrary(library_dir).save("tiny", trained.model, dict(trained.metadata))
    at = opened({"model": "tiny", "z": "0.5,0.5", "i": "9999999", "sel": "1,99999"})
    assert "#9999999 is not one of this model's" in messages(at)
    assert at.session_state["vx_clicked_index"] is None
    assert at.session_state["vx_clicked_z"] == (0.5, 0.5) and at.session_state["vx_selected"] == [1]
    at.switch_page(INTERPOLATE).run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_scene_holding_such_a_point_does_the_same(trained, library_dir):
    ModelLibrary(library_dir).save("tiny", trained.model, dict(trained.metadata))
    scene = {"name": "far", "view": {"model": "tiny", "z": "0.5,0.5", "i": "9999999"}}
    library_dir.joinpath(FILE_NAME).write_text(json.dumps({"version": 1, "scenes": [scene]}))
    at = opened({"model": "tiny"}, MAP)
    at.selectbox(key="scene_choice").select("far")
    at.button(key="scene_show").click().run()
    assert not at.exception and at.session_state["vx_clicked_index"] is None
    at.switch_page(INTERPOLATE).run()
    assert not at.exception, [e.value for e in at.exception]


# --- scenes on every kind of model -------------------------------------------------------------


def save_scene(at: AppTest, name: str) -> None:
    at.text_input(key="scene_name_input").input(name)
    at.button(key="scene_save").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_scene_on_a_saved_model_keeps_its_colour(trained, library_dir):
    ModelLibrary(library_dir).save("tiny", trained.model, dict(trained.metadata))
    at = opened({"model": "tiny"}, MAP)
    at.selectbox(key="map_color_by").select("KL to prior").run()
    save_scene(at, "kl view")
    assert at.selectbox(key="map_color_by").value == "KL to prior"  # the save changes nothing
    (stored,) = json.loads(library_dir.joinpath(FILE_NAME).read_text())["scenes"]
    assert stored["view"]["color"] == "kl" and stored["view"]["model"] == "tiny"


@pytest.mark.slow
@needs_fashion
def test_a_scene_on_the_shipped_model_is_saved_read_and_shown(library_dir):
    at = opened({"model": "fashion-mnist", "src": "pretrained"}, MAP)
    at.selectbox(key="map_color_by").select("σ (posterior std)").run()
    save_scene(at, "fashion sigma")
    assert "Saved scene" in messages(at) and "cannot be read" not in messages(at)
    assert at.selectbox(key="map_color_by").value == "σ (posterior std)"
    (stored,) = json.loads(library_dir.joinpath(FILE_NAME).read_text())["scenes"]
    assert stored["view"] == stored["view"] | {
        "model": "fashion-mnist",
        "src": "pretrained",
        "color": "sigma",
    }
    # Another session shows it: its colouring comes back.
    other = opened({"model": "fashion-mnist", "src": "pretrained"}, MAP)
    assert other.selectbox(key="map_color_by").value == "label"
    other.selectbox(key="scene_choice").select("fashion sigma")
    other.button(key="scene_show").click().run()
    assert not other.exception
    assert other.session_state["vx_active_model"].name == "fashion-mnist (pretrained)"
    assert other.selectbox(key="map_color_by").value == "σ (posterior std)"


def test_a_model_trained_in_this_session_is_refused_scenes_clearly(trained):
    digits = load_dataset("digits")
    active = ActiveModel(
        key="test:session", name="tiny", model=trained.model, metadata=dict(trained.metadata),
        dataset=digits, source="session",
    )  # fmt: skip
    at = opened({}, MAP, vx_active_model=active)
    assert not any(b.key == "scene_save" for b in at.button)
    assert any("Scenes need a saved model" in c.value for c in at.caption)


def test_one_bad_scene_hides_no_other_and_blocks_no_save(trained, library_dir):
    ModelLibrary(library_dir).save("tiny", trained.model, dict(trained.metadata))
    bad = {"name": "evil", "view": {"model": "tiny", "![x](https://evil.example/i.png)": "1"}}
    good = {"name": "good", "view": {"model": "tiny", "color": "kl"}}
    document = {"version": 1, "scenes": [good, bad]}
    library_dir.joinpath(FILE_NAME).write_text(json.dumps(document))
    at = opened({"model": "tiny"}, MAP)
    assert at.selectbox(key="scene_choice").options == ["good"]
    (warning,) = at.warning
    assert "1 entry of scenes.json cannot be read" in warning.value
    assert "](https" not in warning.value and "\\!\\[x\\]" in warning.value  # inert text
    save_scene(at, "new")
    stored = json.loads(library_dir.joinpath(FILE_NAME).read_text())["scenes"]
    assert [s["name"] for s in stored] == ["good", "evil", "new"] and stored[1] == bad


def test_a_damaged_file_is_set_aside_by_the_next_save(trained, library_dir):
    ModelLibrary(library_dir).save("tiny", trained.model, dict(trained.metadata))
    library_dir.joinpath(FILE_NAME).write_bytes(b'{"version": 1, "scenes": [')
    at = opened({"model": "tiny"}, MAP)
    assert "scene file of this library cannot be read" in messages(at)
    save_scene(at, "fresh")
    assert r"kept as scenes\-damaged\-" in _raw_messages(at)  # escaped: inert text
    (aside,) = library_dir.glob("scenes-damaged-*.json")
    assert aside.read_bytes() == b'{"version": 1, "scenes": ['
    assert [
        s["name"] for s in json.loads(library_dir.joinpath(FILE_NAME).read_text())["scenes"]
    ] == ["fresh"]

"""AppTest of the whole app: every page with and without a model, quick start, Train, Models.

Each test gets its own empty model library (VAE_EXPLORER_MODELS -> a tmp dir). A small digits
model trained for a few epochs (well under a second) stands in for a real one.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from runner.job import TrainingJob
from tests.conftest import wait_until
from tests.hostile import shown
from tests.lingering_exit import hold_child_exits, reaped, running
from ui.active_model import ActiveModel
from ui.training import QUICK_START_TRAIN
from vae import VAE, ModelConfig, TrainConfig
from vae.checkpoint import SUFFIX, checkpoint_bytes
from vae.data import load_dataset
from vae.metadata import training_metadata

# Deadlines generous enough for a loaded 2-core machine (load average 30 seen): one page run,
# and a training's progress (its first epoch took over 60 s there).
TIMEOUT = 180
TRAINING_DEADLINE = 300
ROOT = Path(__file__).resolve().parent.parent


def _app_pages() -> list[str]:
    """app.py's static page list (read as data: running app.py needs a Streamlit session)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "PAGES":
            return [path for path, *_ in ast.literal_eval(node.value) if (ROOT / path).exists()]
    raise AssertionError("app.py has no PAGES list")


PAGES = _app_pages()


@pytest.fixture(autouse=True)
def library_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(folder))
    return folder


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def trained(digits) -> tuple[VAE, dict]:
    """A digits VAE trained for 3 epochs, and its checkpoint metadata."""
    model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(64,)))
    job = TrainingJob(model, digits, TrainConfig(epochs=3, batch_size=64)).start()
    assert job.join(60) and job.error is None
    meta = training_metadata("tiny digits", digits, model, job.config, job.result)
    return model, meta


@pytest.fixture
def active(trained, digits) -> ActiveModel:
    model, meta = trained
    return ActiveModel(
        key="test:tiny", name="tiny digits", model=model, metadata=dict(meta),
        dataset=digits, source="session",
    )  # fmt: skip


def open_page(path: str, active: ActiveModel | None = None, **state) -> AppTest:
    """Run app.py once, switch to `path` (through the navigation, as a user would), run it."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if active is not None:
        at.session_state["vx_active_model"] = active
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    if path != "pages/home.py":
        at.switch_page(path).run()
    return at


def sidebar_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.sidebar.markdown) + " ".join(
        c.value for c in at.sidebar.caption
    )


# --- every page -----------------------------------------------------------------------------


def test_navigation_lists_the_core_pages():
    assert {"pages/home.py", "pages/train.py", "pages/models.py"} <= set(PAGES)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs_without_a_model(path):
    at = open_page(path)
    assert not at.exception


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs_with_a_model(path, active):
    at = open_page(path, active)
    assert not at.exception


def test_the_sidebar_shows_the_current_model_and_device(active):
    # Checked on the first run: AppTest (1.67) drops the entry script's sidebar elements
    # after switch_page, although a browser shows them on every page (see the screenshots).
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert "No model loaded" in sidebar_text(at)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["vx_active_model"] = active
    badge = sidebar_text(at.run())
    assert "tiny digits" in badge and "digits" in badge
    assert any(device in badge for device in ("CPU", "CUDA", "MPS"))


# --- Home -----------------------------------------------------------------------------------


def test_home_explains_the_model_with_formulas():
    at = open_page("pages/home.py")
    latex = " ".join(block.value for block in at.latex)
    assert r"\mathrm{KL}" in latex and r"\log\sigma_j^2" in latex and "ELBO" in latex
    assert "IWAE" in " ".join(m.value for m in at.markdown)


@pytest.mark.slow
def test_quick_start_trains_digits_and_opens_the_latent_map():
    at = open_page("pages/home.py")
    at.button(key="home_quick_start").click().run()
    assert not at.exception and not at.error
    model = at.session_state["vx_active_model"]
    assert model.source == "session" and model.metadata["dataset"] == "digits"
    assert len(model.metadata["history"]) == QUICK_START_TRAIN.epochs
    assert model.metadata["train_config"] == QUICK_START_TRAIN.to_dict()
    assert model.metadata["test_metrics"]["elbo"] < 0
    assert [t.value for t in at.title] == ["Latent map"]


def test_quick_start_failure_is_a_message_under_the_button_and_home_stays(monkeypatch):
    import ui.loaders
    from vae.data import DataError

    def no_digits(name):
        raise DataError(f"cannot load {name}: disk says no")

    monkeypatch.setattr(ui.loaders, "cached_dataset", no_digits)
    at = open_page("pages/home.py")
    at.button(key="home_quick_start").click().run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "Quick start failed: cannot load digits: disk says no"
    ]
    assert at.session_state["vx_active_model"] is None
    assert [t.value for t in at.title] == ["VAE explorer"]
    assert at.latex, "the rest of Home is still drawn"


def test_home_opens_a_saved_model(trained, library_dir):
    from vae.library import ModelLibrary

    model, meta = trained
    ModelLibrary(library_dir).save("saved digits", model, meta)
    at = open_page("pages/home.py")
    at.selectbox(key="home_saved_model").set_value("saved digits")
    at.button(key="home_open_saved").click().run()
    assert not at.exception and not at.error
    assert at.session_state["vx_active_model"].source == "library"
    assert [t.value for t in at.title] == ["Latent map"]


# --- Train ----------------------------------------------------------------------------------


def wait_for_training(at: AppTest, timeout: float = TRAINING_DEADLINE) -> AppTest:
    """Rerun (as the polling fragment would) until the run's model became the active one."""
    deadline = time.monotonic() + timeout
    while at.session_state["vx_train_run"].active_key is None:
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(0.2)
        at.run()
        assert not at.exception, at.exception
    return at.run()


def test_train_page_trains_shows_progress_and_saves(library_dir):
    at = open_page("pages/train.py")
    assert any("press **Start**" in i.value for i in at.info)
    at.number_input(key="train_epochs").set_value(4)
    at.text_input(key="train_hidden").set_value("32")
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    assert at.button(key="train_stop").disabled is False  # running (or just finished)
    wait_for_training(at)

    run = at.session_state["vx_train_run"]
    active = at.session_state["vx_active_model"]
    assert active.key == run.active_key and active.source == "session"
    assert len(active.metadata["history"]) == 4
    assert active.model.config.hidden == (32,)
    assert any("finished 4 epochs" in p.proto.text for p in at.get("progress"))
    assert at.slider(key=f"train_replay_{run.active_key}").value == 4
    assert len(at.get("plotly_chart")) == 2  # the map (replayed) and the curves

    at.slider(key=f"train_replay_{run.active_key}").set_value(1).run()
    assert not at.exception

    at.text_input(key="train_save_name").set_value("bad/name")
    at.button(key="train_save").click().run()
    assert any("cannot contain" in e.value for e in at.error)
    assert not library_dir.exists() or not list(library_dir.glob(f"*{SUFFIX}"))

    at.text_input(key="train_save_name").set_value("trained here")
    at.button(key="train_save").click().run()
    assert (library_dir / f"trained here{SUFFIX}").is_file()
    assert any("Saved as" in t.value for t in at.toast)


def test_train_page_is_done_and_saves_while_the_child_still_exits(
    library_dir, tmp_path, monkeypatch
):
    """The run is done once the child has sent its result (issue 18: 20 of 47.6 s were its
    exit): the page shows it and Save works while the child is still shutting down; then the
    child is reaped and leaves no temporary file."""
    gate = hold_child_exits(tmp_path, monkeypatch)
    at = open_page("pages/train.py")
    at.number_input(key="train_epochs").set_value(2)
    at.text_input(key="train_hidden").set_value("32")
    at.button(key="train_start").click().run()
    run = at.session_state["vx_train_run"]
    try:
        wait_for_training(at)
        assert any("finished 2 epochs" in p.proto.text for p in at.get("progress"))
        at.text_input(key="train_save_name").set_value("saved while exiting")
        at.button(key="train_save").click().run()
        assert (library_dir / f"saved while exiting{SUFFIX}").is_file()
        assert running(run.job.worker_pid), "the child had already exited: nothing was tested"
    finally:
        gate.release()
    wait_until(lambda: reaped(run.job.worker_pid), 60, "the child's exit to be reaped")
    assert not list(gate.temp_dir.iterdir())


def test_train_stop_ends_a_long_run(library_dir):
    at = open_page("pages/train.py")
    at.number_input(key="train_epochs").set_value(1000)
    at.button(key="train_start").click().run()
    run = at.session_state["vx_train_run"]
    wait_until(lambda: run.job.progress().epoch >= 1, TRAINING_DEADLINE, "the first epoch")
    at.button(key="train_stop").click().run()
    assert run.job.join(30)
    wait_for_training(at)
    assert run.job.progress().state == "stopped"
    assert any("stopped" in w.value for w in at.warning)
    assert at.session_state["vx_active_model"].key == run.active_key  # the epochs done are kept


def test_train_rejects_bad_settings_with_a_message():
    at = open_page("pages/train.py")
    at.text_input(key="train_hidden").set_value("wide, deep")
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any("whole numbers" in e.value for e in at.error)
    assert at.session_state["vx_train_run"] is None  # no run started


def test_train_upload_of_a_broken_file_is_an_error_not_a_crash():
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("upload").run()
    at.file_uploader(key="train_upload").set_value(("data.csv", b"a,b\n1,x\n", "text/csv")).run()
    assert not at.exception
    assert any("data.csv" in shown(e.value) for e in at.error)
    assert at.button(key="train_start").disabled


def test_train_upload_of_good_data_can_be_trained():
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(60))
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("upload").run()
    at.file_uploader(key="train_upload").set_value(
        ("points.csv", f"a,b,label\n{rows}\n".encode(), "text/csv")
    ).run()
    assert not at.exception and not at.error
    assert not at.button(key="train_start").disabled
    at.number_input(key="train_epochs").set_value(2)
    at.button(key="train_start").click().run()
    wait_for_training(at)
    assert at.session_state["vx_active_model"].dataset.x_train.shape[1] == 2


# --- Models ---------------------------------------------------------------------------------


def library_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob(f"*{SUFFIX}")} if folder.exists() else {}


def test_models_page_saves_lists_loads_and_deletes(active, library_dir):
    at = open_page("pages/models.py", active)
    assert any("No saved models" in i.value for i in at.info)
    at.text_input(key="models_save_name").set_value("kept")
    at.button(key="models_save").click().run()
    assert (library_dir / f"kept{SUFFIX}").is_file()

    at.run()
    table = at.dataframe[0].value
    assert list(table["name"]) == ["kept"] and list(table["epochs"]) == [3]
    assert table["test ELBO"][0] == pytest.approx(active.metadata["test_metrics"]["elbo"], abs=0.01)

    at.button(key="models_load").click().run()
    assert not at.exception
    loaded = at.session_state["vx_active_model"]
    assert loaded.source == "library" and loaded.name == "kept"
    assert any("Loaded 'kept'" in s.value for s in at.success)

    at.button(key="models_delete").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key="models_delete_no").click().run()
    assert (library_dir / f"kept{SUFFIX}").is_file()
    at.button(key="models_delete").click().run()
    at.button(key="models_delete_yes").click().run()
    assert not (library_dir / f"kept{SUFFIX}").exists()
    assert any("Deleted 'kept'" in s.value for s in at.success)


def test_models_upload_of_a_good_checkpoint(trained, library_dir):
    model, meta = trained
    data = checkpoint_bytes(model, meta)
    at = open_page("pages/models.py")
    at.file_uploader(key="models_upload").set_value(
        ("uploaded digits.safetensors", data, "application/octet-stream")
    ).run()
    assert at.text_input(key="models_upload_name").value == "uploaded digits"
    at.button(key="models_upload_add").click().run()
    assert not at.exception and not at.error
    assert (library_dir / f"uploaded digits{SUFFIX}").is_file()


@pytest.mark.parametrize(
    "content",
    [b"not a checkpoint at all", b'\x08\x00\x00\x00\x00\x00\x00\x00{"a": 1}', b""],
    ids=["garbage", "bad-header", "empty"],
)
def test_models_broken_upload_never_replaces_a_good_model(trained, library_dir, content):
    from vae.library import ModelLibrary

    model, meta = trained
    ModelLibrary(library_dir).save("good", model, meta)
    before = library_files(library_dir)
    at = open_page("pages/models.py")
    at.file_uploader(key="models_upload").set_value(
        ("good.safetensors", content, "application/octet-stream")
    ).run()
    at.checkbox(key="models_upload_overwrite").check()
    at.button(key="models_upload_add").click().run()
    assert not at.exception
    assert any("cannot be used" in e.value for e in at.error)
    assert library_files(library_dir) == before
    assert not [p for p in library_dir.iterdir() if p.name.startswith(".")]  # no temp left


def test_models_upload_with_a_bad_name_is_refused(trained, library_dir):
    model, meta = trained
    at = open_page("pages/models.py")
    at.file_uploader(key="models_upload").set_value(
        ("x.safetensors", checkpoint_bytes(model, meta), "application/octet-stream")
    ).run()
    at.text_input(key="models_upload_name").set_value("../../etc/passwd")
    at.button(key="models_upload_add").click().run()
    assert not at.exception
    assert at.error and library_files(library_dir) == {}


def test_models_name_clash_needs_overwrite(active, library_dir):
    from vae.library import ModelLibrary

    ModelLibrary(library_dir).save("same", active.model, active.metadata)  # someone else's
    at = open_page("pages/models.py", active)
    at.text_input(key="models_save_name").set_value("same")
    at.button(key="models_save").click().run()
    assert any("already exists" in shown(e.value) for e in at.error)
    at.checkbox(key="models_save_overwrite").check()
    at.button(key="models_save").click().run()
    assert any("Saved as" in t.value for t in at.toast)


def test_after_a_save_the_sidebar_links_to_the_view_instead_of_asking_to_save(active):
    # The sidebar is checked on a first run (see test_the_sidebar_shows_the_current_model...).
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["vx_active_model"] = active
    assert "save it" in sidebar_text(at.run())
    at.switch_page("pages/models.py").run()
    at.text_input(key="models_save_name").set_value("kept")
    at.button(key="models_save").click().run()
    assert any("Saved as" in t.value for t in at.toast)
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key in ("vx_active_model", "vx_saved_session_models"):
        again.session_state[key] = at.session_state[key]
    text = sidebar_text(again.run())
    assert "save it" not in text and "links to this view" in text
    assert again.query_params.get("model") == "kept"  # and the link names it


CSV_ROWS = "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(60))
CSV = f"a,b,label\n{CSV_ROWS}\n".encode()


def test_models_trained_on_uploaded_data_ask_for_the_data_again(trained, library_dir):
    from vae.library import ModelLibrary

    model, meta = trained
    # A user file called digits.npz must not pass for the built-in digits.
    user_meta = {**meta, "dataset_source": "upload", "dataset_file": "digits.npz"}
    ModelLibrary(library_dir).save("mine", model, user_meta)
    at = open_page("pages/models.py")
    assert at.button(key="models_load").disabled
    assert any("upload that file again" in i.value.lower() for i in at.info)
    assert any("digits.npz" in shown(i.value) for i in at.info)


def test_a_model_trained_on_an_upload_is_saved_and_reloaded_with_that_file(library_dir):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("upload").run()
    at.file_uploader(key="train_upload").set_value(("points.csv", CSV, "text/csv")).run()
    at.number_input(key="train_epochs").set_value(2)
    at.button(key="train_start").click().run()
    wait_for_training(at)
    meta = at.session_state["vx_active_model"].metadata
    assert meta["dataset_source"] == "upload" and meta["dataset_file"] == "points.csv"
    at.text_input(key="train_save_name").set_value("from csv")
    at.button(key="train_save").click().run()
    assert (library_dir / f"from csv{SUFFIX}").is_file()

    at = open_page("pages/models.py")
    assert at.button(key="models_load").disabled
    wrong = b"a,b,c,label\n" + b"\n".join(b"1,2,3,0" for _ in range(40)) + b"\n"
    at.file_uploader(key="models_dataset_upload").set_value(("wrong.csv", wrong, "text/csv"))
    at.run()
    at.button(key="models_load_data").click().run()
    assert any("expects 2 values" in e.value for e in at.error)
    assert at.session_state["vx_active_model"] is None
    at.file_uploader(key="models_dataset_upload").set_value(("points.csv", CSV, "text/csv"))
    at.run()
    at.button(key="models_load_data").click().run()
    assert not at.exception and not at.error
    loaded = at.session_state["vx_active_model"]
    assert loaded.source == "library" and loaded.dataset.x_train.shape[1] == 2


def test_a_running_job_shows_progress_in_the_sidebar_of_other_pages(digits):
    from ui.training import TrainRun

    model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(32,)))
    job = TrainingJob(model, digits, TrainConfig(epochs=10_000)).start()
    try:
        wait_until(lambda: job.progress().epoch >= 1, TRAINING_DEADLINE, "the first epoch")
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
        at.session_state["vx_train_run"] = TrainRun(job=job, dataset=digits, name="bg")
        at.run()  # Home: not the Train page, so the sidebar follows the job
        assert not at.exception
        bars = at.sidebar.get("progress")
        assert len(bars) == 1 and "Training digits: epoch" in bars[0].proto.text
    finally:
        job.stop()
        assert job.join(30)


@pytest.mark.parametrize("path", ["pages/home.py", "pages/train.py", "pages/models.py"])
def test_a_page_run_without_app_py_is_sent_through_it(path):
    # A cold server serves pages/ as plain pages until app.py has run once; the pages then
    # redirect to app.py. Here app.py is not a registered page, so they stop with a pointer.
    at = AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("start page" in i.value for i in at.info)


def test_a_dataset_that_cannot_be_loaded_is_an_error_with_a_retry(monkeypatch):
    calls = []

    def unavailable(name, *args, **kwargs):
        from vae.data import DataError

        calls.append(name)
        raise DataError(f"{name} is not here (test)")

    monkeypatch.setattr("vae.data.load_dataset", unavailable)
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("mnist").run()
    assert any("mnist is not here" in e.value for e in at.error)
    assert at.button(key="train_start").disabled
    at.run()  # a rerun does not try again by itself ...
    assert calls.count("mnist") == 1
    at.button(key="train_data_retry").click().run()  # ... the button does
    assert calls.count("mnist") == 2 and not at.exception


# --- nothing the user made is lost ----------------------------------------------------------

TRAIN_SETTINGS = {
    "train_dataset": "s-curve",
    "train_hidden": "48, 24",
    "train_likelihood": "gaussian",
    "train_beta": 2.5,
    "train_warmup": 3,
    "train_epochs": 7,
    "train_batch": 64,
    "train_lr": 1e-2,
    "train_seed": 5,
}


def _set_train_settings(at: AppTest) -> None:
    at.selectbox(key="train_dataset").set_value(TRAIN_SETTINGS["train_dataset"]).run()
    at.text_input(key="train_hidden").set_value(TRAIN_SETTINGS["train_hidden"])
    at.selectbox(key="train_likelihood").set_value(TRAIN_SETTINGS["train_likelihood"])
    for key in ("train_beta", "train_warmup", "train_epochs", "train_seed"):
        at.number_input(key=key).set_value(TRAIN_SETTINGS[key])
    for key in ("train_batch", "train_lr"):
        at.select_slider(key=key).set_value(TRAIN_SETTINGS[key])
    at.run()


def _train_settings_shown(at: AppTest) -> dict:
    return {
        "train_dataset": at.selectbox(key="train_dataset").value,
        "train_hidden": at.text_input(key="train_hidden").value,
        "train_likelihood": at.selectbox(key="train_likelihood").value,
        **{k: at.number_input(key=k).value for k in ("train_beta", "train_warmup")},
        **{k: at.number_input(key=k).value for k in ("train_epochs", "train_seed")},
        **{k: at.select_slider(key=k).value for k in ("train_batch", "train_lr")},
    }


def test_train_settings_survive_a_visit_to_another_page():
    at = open_page("pages/train.py")
    _set_train_settings(at)
    assert _train_settings_shown(at) == TRAIN_SETTINGS
    at.switch_page("pages/models.py").run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert _train_settings_shown(at) == TRAIN_SETTINGS


def test_a_dataset_change_still_resets_the_dependent_settings():
    at = open_page("pages/train.py")
    _set_train_settings(at)
    at.selectbox(key="train_dataset").set_value("digits").run()
    assert at.number_input(key="train_epochs").value == 30
    assert at.text_input(key="train_hidden").value == "256, 128"
    assert at.selectbox(key="train_likelihood").value == "bernoulli"
    assert at.number_input(key="train_seed").value == 5  # not a per-dataset setting


def _captions(at: AppTest) -> str:
    return " ".join(shown(c.value) for c in at.caption)  # as read: escapes removed


def test_train_results_name_the_settings_they_came_from():
    at = open_page("pages/train.py")
    at.text_input(key="train_hidden").set_value("32")
    at.number_input(key="train_epochs").set_value(2).run()  # as a browser does on each change
    at.button(key="train_start").click().run()
    wait_for_training(at)
    ran = "digits · MLP 32 · bernoulli (binarised) · β 1 · warm-up 0 · 2 epochs · batch 128 · lr 0.003 · seed 0"
    assert f"Results of: {ran}" in _captions(at)
    assert "are not these" not in _captions(at)
    at.switch_page("pages/latent_map.py").run()
    at.switch_page("pages/train.py").run()
    assert at.number_input(key="train_epochs").value == 2  # the form still says what ran
    assert f"Results of: {ran}" in _captions(at) and "are not these" not in _captions(at)
    at.number_input(key="train_epochs").set_value(5).run()
    assert f"Results of: {ran}" in _captions(at)
    assert "(digits · MLP 32 · bernoulli (binarised) · β 1 · warm-up 0 · 5 epochs" in _captions(at)
    assert "are not these: **Start** trains with them" in _captions(at)


def _not_a_likelihood_notes(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("Not a log-likelihood")]


def test_train_results_say_when_their_elbo_is_not_a_likelihood():
    """Binarisation is on by default; unticked on grey digits, the results say that their
    ELBO is not a log-likelihood, and the run's settings name the grey levels."""
    at = open_page("pages/train.py")
    assert at.checkbox(key="train_binarize").value is True
    at.text_input(key="train_hidden").set_value("32")
    at.number_input(key="train_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    wait_for_training(at)
    assert not _not_a_likelihood_notes(at)
    at.checkbox(key="train_binarize").uncheck().run()
    at.button(key="train_start").click().run()
    wait_for_training(at)
    assert "bernoulli on grey levels" in _captions(at)
    assert len(_not_a_likelihood_notes(at)) == 1


def test_an_uploaded_training_file_survives_a_visit_to_another_page():
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(60))
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("upload").run()
    at.file_uploader(key="train_upload").set_value(
        ("points.csv", f"a,b,label\n{rows}\n".encode(), "text/csv")
    ).run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/train.py").run()
    assert not at.exception and not at.error
    assert "points.csv" in _captions(at)
    assert not at.button(key="train_start").disabled
    at.button(key="train_upload_forget").click().run()
    assert at.button(key="train_start").disabled


def test_loading_a_saved_model_keeps_the_unsaved_trained_one(trained, library_dir):
    from vae.library import ModelLibrary

    model, meta = trained
    ModelLibrary(library_dir).save("saved digits", model, meta)
    at = open_page("pages/train.py")
    at.text_input(key="train_hidden").set_value("32")
    at.number_input(key="train_epochs").set_value(2).run()
    at.button(key="train_start").click().run()
    wait_for_training(at)
    run = at.session_state["vx_train_run"]
    assert any(s.value == "Keep this model" for s in at.subheader)

    at.switch_page("pages/models.py").run()
    at.button(key="models_load").click().run()
    assert at.session_state["vx_active_model"].source == "library"
    unsaved = " ".join(shown(m.value) for m in at.markdown)  # as read: escapes removed
    assert "not saved" in unsaved and run.name in unsaved  # listed, with a way back

    at.switch_page("pages/train.py").run()
    assert any(s.value == "Keep this model" for s in at.subheader)
    at.button(key="train_make_current").click().run()
    assert at.session_state["vx_active_model"].key == run.active_key
    at.text_input(key="train_save_name").set_value("kept after all")
    at.button(key="train_save").click().run()
    assert (library_dir / f"kept after all{SUFFIX}").is_file()


# --- estimates before long work -------------------------------------------------------------


def test_train_shows_a_time_estimate_before_start_that_follows_the_settings():
    at = open_page("pages/train.py")
    estimate = [c.value for c in at.caption if c.value.startswith("Estimated:")]
    assert len(estimate) == 1 and "about" in estimate[0] and "30 epochs × 12 steps" in estimate[0]
    at.number_input(key="train_epochs").set_value(300).run()
    longer = [c.value for c in at.caption if c.value.startswith("Estimated:")]
    assert "300 epochs × 12 steps" in longer[0]


def test_the_beta_page_estimates_the_pair_for_the_chosen_data():
    at = open_page("pages/beta.py")
    info = " ".join(i.value for i in at.info)
    assert "15 s" not in info and "about" in info and "on digits" in info
    at.selectbox(key="beta_dataset").set_value("s-curve").run()
    assert "on s-curve" in " ".join(shown(i.value) for i in at.info)  # the name, escaped
    assert any("for both on this machine" in c.value for c in at.caption)


def test_the_live_panel_never_shows_an_empty_map_without_saying_when_it_comes():
    at = open_page("pages/train.py")
    at.number_input(key="train_epochs").set_value(1000).run()
    at.button(key="train_start").click().run()
    run = at.session_state["vx_train_run"]
    try:
        has_map = any(c.proto.id and "train_map" in c.proto.id for c in at.get("plotly_chart"))
        said = "The latent map appears when the first epoch ends, about" in _captions(at)
        assert has_map or said, (has_map, _captions(at))
    finally:
        at.button(key="train_stop").click().run()
        assert run.job.join(30)

"""Hostile parameters and names: training settings out of range (config, CLI, Train page), URL
query parameters, and model names that try to leave the model folder.

Each must end in one clear sentence, with no file created anywhere (inside or outside the
library) and no exception on a page.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import small_model
from tests.hostile import (
    ROOT,
    assert_clear_message,
    assert_cli_refused,
    folder_state,
    run_cli,
    shown,
)
from vae.config import ConfigError, TrainConfig
from vae.library import ModelLibrary

# --- training settings -------------------------------------------------------------------------

TRAIN_CONFIGS = [
    ("epochs-0", {"epochs": 0}, "epochs must be an integer from 1"),
    ("epochs-negative", {"epochs": -3}, "epochs must be an integer from 1"),
    ("epochs-1e9", {"epochs": 10**9}, "epochs must be an integer from 1 to 10000"),
    ("epochs-float", {"epochs": 2.5}, "epochs must be an integer"),
    ("epochs-text", {"epochs": "10"}, "epochs must be an integer"),
    ("epochs-bool", {"epochs": True}, "epochs must be an integer"),
    ("batch-0", {"batch_size": 0}, "batch_size must be an integer from 1"),
    ("batch-1e12", {"batch_size": 10**12}, "batch_size must be an integer from 1"),
    ("lr-0", {"lr": 0.0}, "lr must be a number from 1e-07 to 10"),
    ("lr-negative", {"lr": -1e-3}, "lr must be a number"),
    ("lr-nan", {"lr": math.nan}, "lr must be a number"),
    ("lr-inf", {"lr": math.inf}, "lr must be a number"),
    ("lr-1e6", {"lr": 1e6}, "lr must be a number from 1e-07 to 10"),
    ("beta-negative", {"beta": -1.0}, "beta must be a number from 0 to 1000"),
    ("beta-nan", {"beta": math.nan}, "beta must be a number"),
    ("beta-1e9", {"beta": 1e9}, "beta must be a number from 0 to 1000"),
    ("warmup-negative", {"warmup_epochs": -1}, "warmup_epochs must be an integer"),
    ("seed-negative", {"seed": -1}, "seed must be an integer"),
]


@pytest.mark.parametrize(("values", "message"), [c[1:] for c in TRAIN_CONFIGS],
                         ids=[c[0] for c in TRAIN_CONFIGS])  # fmt: skip
def test_train_config_refuses(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**values)
    assert_clear_message(str(caught.value), message)


def test_train_config_from_untrusted_dict() -> None:
    with pytest.raises(ConfigError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"epochs": 3, "__init__": "os.system"})
    with pytest.raises(ConfigError, match="must be a mapping"):
        TrainConfig.from_dict(["epochs", 3])  # type: ignore[arg-type]


CLI_ARGS = [
    ("epochs-0", ["--epochs", "0"], "at least 1"),
    ("epochs-text", ["--epochs", "ten"], "expected a whole number"),
    ("epochs-huge", ["--epochs", "1000000000"], "epochs must be an integer from 1 to 10000"),
    ("batch-0", ["--batch-size", "0"], "at least 1"),
    ("batch-negative", ["--batch-size", "-64"], "at least 1"),
    ("lr-0", ["--lr", "0"], "lr must be a number from 1e-07"),
    ("lr-negative", ["--lr", "-0.1"], "lr must be a number"),
    ("lr-nan", ["--lr", "nan"], "expected a finite number"),
    ("lr-inf", ["--lr", "inf"], "expected a finite number"),
    ("lr-text", ["--lr", "fast"], "expected a number"),
    ("lr-1e6", ["--lr", "1e6"], "lr must be a number from 1e-07 to 10"),
    ("beta-negative", ["--beta", "-1"], "beta must be a number from 0"),
    ("beta-inf", ["--beta", "inf"], "expected a finite number"),
    ("hidden-text", ["--hidden", "a,b"], "comma-separated layer widths"),
    ("hidden-1e9", ["--hidden", "1000000000"], "hidden width must be an integer from 1 to 8192"),
    ("hidden-zero", ["--hidden", "0"], "hidden width must be an integer from 1"),
    ("hidden-too-deep", ["--hidden", ",".join(["8"] * 50)], "hidden must be 1 to 8 layer"),
    ("latent-0", ["--latent-dim", "0"], "at least 1"),
    ("latent-huge", ["--latent-dim", "100000"], "latent_dim must be an integer from 1 to 512"),
    ("device-bogus", ["--device", "tpu"], "invalid choice"),
    ("sigma-negative", ["--likelihood", "gaussian", "--gaussian-sigma", "-1"], "gaussian_sigma"),
]


@pytest.mark.parametrize(("extra", "message"), [c[1:] for c in CLI_ARGS],
                         ids=[c[0] for c in CLI_ARGS])  # fmt: skip
def test_cli_train_refuses_bad_settings(extra: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "models" / "m.safetensors"
    argv = ["train", "--dataset", "digits", "--quiet", "--epochs", "1", "--out", str(out), *extra]
    code, _, err = run_cli(argv)
    assert_cli_refused(code, err, message)
    assert not out.parent.exists()


HIDDEN_TEXTS = [
    ("text", "abc", "whole numbers separated by commas"),
    ("zero", "0", "hidden width must be an integer from 1 to 8192"),
    ("negative", "-5", "hidden width must be an integer from 1"),
    ("width-1e9", "1000000000", "hidden width must be an integer from 1 to 8192"),
    ("scientific", "1e9", "whole numbers separated by commas"),
    ("too-deep", ",".join(["8"] * 9), "hidden must be 1 to 8 layer widths"),
    ("empty", "", "give at least one layer width"),
    ("too-many-parameters", "8192,8192,8192", "more than the limit of 200,000,000"),
    ("pasted-essay", "8," * 50_000, "a few numbers separated by commas"),
    ("5000-digits", "9" * 5000, "a few numbers separated by commas"),
]


def _app(page: str, library_root: Path, monkeypatch: pytest.MonkeyPatch, active=None):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(library_root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if active is not None:
        at.session_state["vx_active_model"] = active
    at.run()  # app.py first, as a browser's first visit
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_train_page_refuses_bad_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad widths -> one st.error and no job; out-of-range numbers sent by a crafted client are
    put back in range by Streamlit itself (the widgets carry min and max)."""
    at = _app("pages/train.py", tmp_path / "models", monkeypatch)
    for case_id, text, message in HIDDEN_TEXTS:
        at.text_input(key="train_hidden").set_value(text)
        at.run()
        at.button(key="train_start").click()
        at.run()
        assert not at.exception, (case_id, [e.value for e in at.exception])
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("Cannot train with these settings: ")
        assert_clear_message(errors[0], message)
        # no job was started (init_state creates the key as None in every session)
        assert at.session_state["vx_train_run"] is None
    at.text_input(key="train_hidden").set_value("32")
    for key, value in [("train_epochs", 10**9), ("train_epochs", -5), ("train_seed", -1),
                       ("train_beta", math.nan), ("train_beta", 1e9), ("train_warmup", -3)]:  # fmt: skip
        widget = at.number_input(key=key)
        low, high = widget.min, widget.max
        widget.set_value(value)
        at.run()
        kept = at.session_state[key]
        assert not at.exception, (key, value)
        assert low <= kept <= high, (key, value, kept)
    assert not (tmp_path / "models").exists()


# --- URL query parameters ----------------------------------------------------------------------

QUERIES = [
    ("model-traversal", {"model": "../../etc/passwd"}),
    ("model-missing", {"model": "no-such-model"}),
    ("model-control-chars", {"model": "a\x00b\nc"}),
    ("model-huge", {"model": "m" * 10_000}),
    ("z-nan", {"z": "nan,nan"}),
    ("z-text", {"z": "<script>alert(1)</script>"}),
    ("z-huge", {"z": "1e308,1e308"}),
    ("z-long", {"z": "1" * 100_000}),
    ("sel-negative", {"sel": "-1,-2"}),
    ("sel-superscript", {"sel": "²"}),
    ("sel-many", {"sel": ",".join(str(i) for i in range(100_000))}),
    ("path-one-point", {"path": "0,0"}),
    ("path-garbage", {"path": ";;;"}),
    ("present-odd", {"present": "yes please"}),
    ("unknown", {"__class__": "x", "page": "../../secrets"}),
    ("repeated", {"model": ["a", "b"]}),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "page",
    [
        "pages/home.py",
        "pages/train.py",
        "pages/models.py",
        "pages/latent_map.py",
        "pages/interpolate.py",
    ],  # fmt: skip
)
def test_malformed_query_parameters_never_break_a_page(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_hostile_checkpoints import _active_model

    library = ModelLibrary(tmp_path / "models")
    model = _active_model()
    library.save("kept", model.model, {"name": "kept", "dataset": "digits"})
    before = folder_state(tmp_path)
    at = _app(page, library.root, monkeypatch, active=model)
    for case_id, params in QUERIES:
        at.query_params.clear()
        at.query_params.update(params)
        at.run()
        assert not at.exception, (page, case_id, [e.value for e in at.exception])
        assert at.session_state["vx_active_model"].key == model.key, case_id
    assert folder_state(tmp_path) == before


@pytest.mark.parametrize("params", [p for _, p in QUERIES], ids=[i for i, _ in QUERIES])
def test_share_links_are_decoded_with_one_clear_sentence(params: dict) -> None:
    """The decoder the app uses for links (ui.view_link): every malformed value is a
    ShareError with a short message, never another exception."""
    share = pytest.importorskip("ui.view_link")
    flat = {k: v if isinstance(v, str) else v[-1] for k, v in params.items()}
    try:
        share.decode_view(flat)
    except share.ShareError as error:
        assert_clear_message(str(error), ".")


# --- names -------------------------------------------------------------------------------------

NAMES = [
    ("dotdot-slash", "../escaped", "cannot contain '/'"),
    ("dotdot", "..", "cannot contain '..'"),
    ("deep-traversal", "a/../../../../tmp/escaped", "cannot contain '/'"),
    ("absolute", "/tmp/escaped", "cannot contain '/'"),
    ("backslash", "..\\..\\escaped", "cannot contain '/' or '\\\\'"),
    ("windows-drive", "C:evil", "letters, digits"),
    ("nul-byte", "evil\x00.txt", "control characters"),
    ("newline", "line\nbreak", "control characters"),
    ("escape-sequence", "\x1b[31mred", "control characters"),
    ("delete-char", "a\x7fb", "control characters"),
    ("81-chars", "a" * 81, "at most 80 characters"),
    ("5000-chars", "a" * 5000, "at most 80 characters"),
    ("hidden-file", ".bashrc", "cannot start with '.'"),
    ("trailing-dot", "name.", "cannot end with '.'"),
    ("windows-reserved", "CON", "reserved file name"),
    ("windows-reserved-ext", "nul.txt", "reserved file name"),
    ("empty", "", "cannot be empty"),
    ("blank", "   ", "cannot be empty"),
    ("non-ascii", "modèle", "letters, digits"),
    ("emoji", "model-\N{GRINNING FACE}", "letters, digits"),
    ("shell", "$(rm -rf ~)", "letters, digits"),
    ("backticks", "`id`", "letters, digits"),
    ("html", "<script>alert(1)</script>", "cannot contain '/'|letters, digits"),
    ("pipe-colon", "a|b:c", "letters, digits"),
]
NAME_IDS = [n[0] for n in NAMES]


@pytest.mark.parametrize(("name", "message"), [n[1:] for n in NAMES], ids=NAME_IDS)
def test_library_refuses_names_and_writes_nothing(name: str, message: str, tmp_path: Path) -> None:
    from tests.test_hostile_checkpoints import good_bytes

    library = ModelLibrary(tmp_path / "lib" / "models")
    library.save("kept", small_model(), {"name": "kept"})
    before = folder_state(tmp_path)
    for action in (
        lambda: library.save(name, small_model(), {}),
        lambda: library.save(name, small_model(), {}, overwrite=True),
        lambda: library.import_bytes(name, good_bytes(), overwrite=True),
        lambda: library.load(name),
        lambda: library.delete(name),
    ):
        with pytest.raises(ValueError) as caught:
            action()
        assert_clear_message(str(caught.value), message)
    assert folder_state(tmp_path) == before


@pytest.mark.parametrize(
    ("name", "message"),
    [n[1:] for n in NAMES if "/" not in n[1] and "\x00" not in n[1] and n[1].strip()],
    ids=[n[0] for n in NAMES if "/" not in n[1] and "\x00" not in n[1] and n[1].strip()],
)
def test_cli_refuses_names_for_its_output(name: str, message: str, tmp_path: Path) -> None:
    """`--out DIR/NAME.safetensors`: the folder is the user's choice, the name must be safe."""
    out = tmp_path / "models" / f"{name}.safetensors"
    argv = ["train", "--dataset", "digits", "--epochs", "1", "--quiet", "--out", str(out)]
    code, _, err = run_cli(argv)
    assert_cli_refused(code, err, "not a valid model name")
    assert not (tmp_path / "models").exists()


@pytest.mark.slow
def test_save_and_upload_forms_refuse_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Models page: 'Save to the library' (a session model) and the upload's name field."""
    from tests.test_hostile_checkpoints import _active_model, good_bytes

    library = ModelLibrary(tmp_path / "lib" / "models")
    library.save("kept", small_model(), {"name": "kept"})
    before = folder_state(tmp_path)
    active = _active_model()
    at = _app("pages/models.py", library.root, monkeypatch, active=active)
    at.file_uploader(key="models_upload").set_value(
        ("fine.safetensors", good_bytes(), "application/octet-stream")
    )
    at.run()
    for case_id, name, message in NAMES:
        for field, button, prefix in (
            ("models_save_name", "models_save", "Cannot save: "),
            ("models_upload_name", "models_upload_add", "This file cannot be used: "),
        ):
            at.text_input(key=field).set_value(name)
            at.button(key=button).click()
            at.run()
            assert not at.exception, (case_id, field, [e.value for e in at.exception])
            errors = [e.value for e in at.error]
            if len(name) > 80:
                # The widgets' max_chars=80 is enforced by Streamlit on the server: the name
                # arrives cut to 80 characters, which is a valid name inside the library.
                saved = library.root / f"{name[:80]}.safetensors"
                assert not errors and saved.is_file(), (case_id, field, errors)
                library.delete(name[:80])
                continue
            assert len(errors) == 1 and errors[0].startswith(prefix), (case_id, field, errors)
            assert_clear_message(shown(errors[0]), message)  # as a reader sees it
            assert at.session_state["vx_active_model"].key == active.key
    assert folder_state(tmp_path) == before

"""Held-out variants of issue #20's ten hostile classes, new to the suite: the same classes in new
fields, new shapes, new paths and new formats ("fix the class, not the file"). Each is tried
against the app (AppTest) and, where the CLI reads the same thing, the CLI.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.conftest import small_model
from tests.hostile import ROOT, assert_clear_message, run_cli
from ui.scenes import FILE_NAME, SceneBook
from vae.library import ModelLibrary

# Text that must reach the page inert: an autolink, a Markdown link and image, HTML, a bidi
# override, zero-width characters, a control character and a lone surrogate's replacement.
LIVE = re.compile(r"\]\(|<img|<a |(?<![\\\u2060])www\.|https?:(?!\u2060)|\u202e|\x07")
METADATA_VARIANTS = {
    "device": "cuda\u202egpj.exe",  # bidi override in a field no earlier test filled
    "dataset_source": "[sign in](https://evil.example) www.evil.example",
    "created": "2026-01-01\u200b\ufeff\u2060",  # zero-width characters
    "vae_version": "<img src=x onerror=alert(1)>",
    "data_file": "mailto:someone@evil.example\x07",
    "dataset_file": "![x](https://evil.example/i.png)",
}
METRIC_KEY = "**k**[x](http://e)"  # Markdown in a metric's name (a key, not a value)


def _text_library(root: Path) -> ModelLibrary:
    library = ModelLibrary(root)
    for i, (field, value) in enumerate(METADATA_VARIANTS.items()):
        metadata = {"dataset": "digits", field: value, "test_metrics": {METRIC_KEY: 1.0}}
        library.save(f"variant {i}", small_model(seed=i), metadata)
    return library


def _shown_texts(at: AppTest) -> list[str]:
    """Every Markdown-rendered text of the page (markdown, captions, alerts, labels)."""
    texts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success")
             for e in getattr(at, kind)]  # fmt: skip
    texts += [getattr(w, "label", "") or "" for w in at.button]
    texts += [getattr(w, "label", "") or "" for w in at.selectbox]
    return texts


@pytest.mark.parametrize("page", ["pages/models.py", "pages/home.py"])
def test_text_variants_in_new_metadata_fields_reach_the_page_inert(page, tmp_path, monkeypatch):
    library = _text_library(tmp_path / "models")
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(library.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    if page == "pages/models.py":
        for name in library.names():  # each model loaded: its badge and notice too
            at.selectbox(key="models_chosen").set_value(name).run()
            if not at.button(key="models_load").disabled:
                at.button(key="models_load").click().run()
            assert not at.exception, (name, [e.value for e in at.exception])
            live = [t for t in _shown_texts(at) if LIVE.search(t)]
            assert not live, (name, live)
    live = [t for t in _shown_texts(at) if LIVE.search(t)]
    assert not live, live


def test_text_variants_in_new_metadata_fields_print_inert_in_the_cli(tmp_path):
    library = _text_library(tmp_path / "models")
    code, out, err = run_cli(["list", "--root", str(library.root)])
    assert code == 0, err
    for path in library.root.glob("*.safetensors"):
        code, info, err = run_cli(["info", "--checkpoint", str(path)])
        assert code == 0, err
        assert "\u202e" not in info and "\x07" not in info and "\ufeff" not in info, info
    assert "\u202e" not in out and "\x07" not in out, out


# --- huge value counts, special files: scenes.json in new shapes and at new paths -------------


def _scene_file(root: Path, make) -> SceneBook:
    root.mkdir(parents=True, exist_ok=True)
    make(root / FILE_NAME)
    return SceneBook(root)


SCENE_VARIANTS = {
    "7M-values-in-one-scene-view": lambda p: p.write_text(
        '{"version":1,"scenes":[{"name":"a","view":{"model":"m","z":[' + "0," * 300_000 + "0]}}]}"
    ),
    "values-in-a-key-nobody-reads": lambda p: p.write_text(
        json.dumps({"version": 1, "scenes": [], "x": [[0] * 1000] * 60})
    ),
    "link-to-dev-zero": lambda p: p.symlink_to("/dev/zero"),
    "fifo": lambda p: os.mkfifo(p),
    "folder": lambda p: p.mkdir(),
    "link-to-a-good-file-elsewhere": lambda p: (
        (p.parent / "elsewhere.json").write_text('{"version": 1, "scenes": []}'),
        p.symlink_to(p.parent / "elsewhere.json"),
    ),
}


@pytest.mark.parametrize("make", SCENE_VARIANTS.values(), ids=SCENE_VARIANTS.keys())
def test_scene_file_variants_are_one_sentence_without_blocking(make, tmp_path):
    found = _scene_file(tmp_path, make).read_file()
    assert found.scenes == [] and found.problems, found
    for problem in found.problems:
        assert_clear_message(problem, ".")


def app_with_a_session_model() -> AppTest:
    """The app, run once, with a small digits model trained in this session as the current one."""
    from ui.active_model import ActiveModel
    from vae.data import load_dataset

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["vx_active_model"] = ActiveModel(
        key="session:variants", name="m", model=small_model().eval(),
        metadata={"name": "m", "dataset": "digits"}, dataset=load_dataset("digits"),
        source="session",
    )  # fmt: skip
    at.run()
    return at


def test_the_latent_map_survives_a_fifo_scene_file(tmp_path, monkeypatch):
    """The page that reads scenes, with a FIFO for scenes.json: it answers, not blocks."""
    root = tmp_path / "models"
    root.mkdir()
    os.mkfifo(root / FILE_NAME)
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(root))
    at = app_with_a_session_model()
    at.switch_page("pages/latent_map.py").run()
    assert not at.exception, [e.value for e in at.exception]


# --- special files at new paths in the CLI ---------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "folder", "link-to-dev-null"])
@pytest.mark.parametrize("command", ["info", "evaluate"])
def test_the_cli_refuses_special_files_as_checkpoints(kind, command, tmp_path):
    path = tmp_path / "m.safetensors"
    {"fifo": lambda: os.mkfifo(path), "link-to-dev-zero": lambda: path.symlink_to("/dev/zero"),
     "folder": lambda: path.mkdir(), "link-to-dev-null": lambda: path.symlink_to("/dev/null")}[kind]()  # fmt: skip
    argv = [command, "--checkpoint", str(path)]
    code, _, err = run_cli(argv)
    assert code != 0 and "Traceback" not in err, err
    assert [line for line in err.splitlines() if line.startswith("error:")], err


def test_the_cli_refuses_a_fifo_as_the_import_card(tmp_path):
    os.mkfifo(tmp_path / "card.json")
    for name in ("encoder.onnx", "decoder.onnx"):
        (tmp_path / name).write_bytes(b"\x08\x07")
    code, _, err = run_cli(["import", "--encoder", str(tmp_path / "encoder.onnx"),
                            "--decoder", str(tmp_path / "decoder.onnx"),
                            "--card", str(tmp_path / "card.json"), "--name", "x",
                            "--root", str(tmp_path / "models")])  # fmt: skip
    assert code != 0 and "Traceback" not in err, err


# --- pictures with extreme aspect ratios in formats the Draw page does not accept -------------


def _picture(size: tuple[int, int], fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, format=fmt)
    return buffer.getvalue()


PICTURES = {
    "gif-1x20000-named-png": ((1, 20_000), "GIF"),
    "webp-16000x1-named-png": ((16_000, 1), "WEBP"),
    "tiff-1x30000-named-png": ((1, 30_000), "TIFF"),
    "bmp-40000x1-named-png": ((40_000, 1), "BMP"),
}


@pytest.mark.parametrize(("size", "fmt"), PICTURES.values(), ids=PICTURES.keys())
def test_other_formats_named_png_are_refused_by_their_header(size, fmt):
    """Only PNG and JPEG are read: PIL's other decoders never see an upload, even renamed."""
    from viz.image_input import ImageInputError, picture_size

    with pytest.raises(ImageInputError) as refused:
        picture_size(_picture(size, fmt))
    assert_clear_message(str(refused.value), "not a PNG or JPEG")


def test_the_draw_page_refuses_a_gif_named_png(monkeypatch):
    at = app_with_a_session_model()
    at.switch_page("pages/draw.py").run()
    at.file_uploader(key="draw_upload").set_value(
        ("thin.png", _picture((1, 20_000), "GIF"), "image/png")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("not a PNG or JPEG" in e.value for e in at.error), [e.value for e in at.error]


# --- link values at their extremes, one key at a time ------------------------------------------

LINKS = [
    {"model": "fashion-mnist", "src": "../../etc"},
    {"model": "fashion-mnist", "src": "pretrained", "win": "1e308,-1e308,0,1"},
    {"model": "fashion-mnist", "src": "pretrained", "bub": "3"},
    {"model": "fashion-mnist", "src": "pretrained", "prior": "2"},
    {"model": "fashion-mnist", "src": "pretrained", "present": "yes"},
    {"model": "fashion-mnist", "src": "pretrained", "sel": ""},
    {"model": "fashion-mnist", "src": "pretrained", "path": ";".join(["0,0"] * 33)},
    {"model": "fashion-mnist", "src": "pretrained", "z": "1e309,0"},
    {"model": "fashion-mnist", "src": "pretrained", "z": "0x10,0"},
    {"model": "fashion-mnist", "src": "pretrained", "color": "\u202e"},
    {"model": "fashion-mnist", "src": "pretrained", "i": "0"},
]


@pytest.mark.parametrize("params", LINKS, ids=[str(i) for i in range(len(LINKS))])
def test_link_values_at_extremes_open_a_page_or_say_why(params, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(tmp_path / "models"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, (params, [e.value for e in at.exception])
    live = [t for t in _shown_texts(at) if LIVE.search(t)]
    assert not live, live


# --- data uploads: names and labels with live text --------------------------------------------


def test_csv_column_names_and_labels_with_live_text_reach_the_train_page_inert(monkeypatch):
    rng = np.random.default_rng(0)
    header = "www.evil.example,[x](http://e),\u202elabel"
    rows = [f"{a:.3f},{b:.3f},{'x@evil.example' if i % 2 else 'a' + chr(0x200B)}"
            for i, (a, b) in enumerate(rng.random((40, 2)))]  # fmt: skip
    csv = "\n".join([header, *rows]).encode()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_dataset").set_value("upload").run()
    at.file_uploader(key="train_upload").set_value(("www.evil.example.csv", csv, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    live = [t for t in _shown_texts(at) if LIVE.search(t)]
    assert not live, live

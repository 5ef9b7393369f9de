"""Valid files the pages must still show sensibly: hostile metadata strings, null mappings,
latent sizes other than 2, weights that overflow, a model labelled with the wrong data.

Each model is put in the library the way a user could (a file copied in, a CLI run) and
opened through a link (`?model=`), as a classroom would; every page must answer with text,
never an error page, and strings from the file must not become Markdown.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.hostile import ROOT, shown
from ui.text import plain
from vae import VAE, ModelConfig
from vae.checkpoint import FORMAT_KEY, checkpoint_bytes
from vae.library import ModelLibrary

TIMEOUT = 120
MAP_PAGES = ["pages/latent_map.py", "pages/interpolate.py", "pages/manifold.py",
             "pages/compare.py", "pages/aggregate.py"]  # fmt: skip
INJECTION = "![x](http://evil.example/img.png) [click](http://phish.example) www.evil.example"


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelLibrary:
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(tmp_path / "models"))
    return ModelLibrary(tmp_path / "models")


def digits_model(seed: int = 0, **config) -> VAE:
    torch.manual_seed(seed)
    return VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(32,), **config)).eval()


def with_raw_metadata(library: ModelLibrary, name: str, model: VAE, **metadata) -> None:
    """Write a checkpoint whose metadata holds exactly `metadata` (nulls included), as a file
    made elsewhere would: save_checkpoint would normalise it."""
    data = checkpoint_bytes(model, {"name": name, "dataset": "digits"})
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    document = json.loads(header["__metadata__"][FORMAT_KEY])
    document["metadata"].update(metadata)
    header["__metadata__"][FORMAT_KEY] = json.dumps(document)
    raw = json.dumps(header).encode()
    library.root.mkdir(parents=True, exist_ok=True)
    (library.root / f"{name}.safetensors").write_bytes(
        struct.pack("<Q", len(raw)) + raw + data[8 + length :]
    )


def open_linked(name: str, page: str) -> AppTest:
    """app.py opened with ?model=name, then `page`, as a shared link opens it."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["model"] = name
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(page).run()
    assert not at.exception, (page, [e.value for e in at.exception])
    return at


def everything_shown(at: AppTest) -> list[str]:
    parts = [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success]
    parts += [*at.sidebar.markdown, *at.sidebar.caption]
    return [str(p.value) for p in parts]


def assert_no_markdown_from(payload: str, at: AppTest, visible: str | None = None) -> None:
    """The payload (or its `visible` start, where a message cuts it) is shown literally, never
    as a link or an image: each of its Markdown characters is escaped."""
    bodies = everything_shown(at)
    visible = visible or payload
    assert any(visible in shown(body) for body in bodies), ("not shown at all", bodies)
    for body in bodies:
        assert visible not in body, body  # unescaped: Markdown would render it
        assert not re.search(r"(?<!\\)!\[|(?<!\\)\]\(|(?<!\\)http:|(?<!\\)www\.", body), body


def test_metadata_strings_render_as_text_not_links_or_images(library: ModelLibrary) -> None:
    """The sidebar's model badge (drawn by app.py on every page) and the Models page, for a
    model trained on a file with a hostile name."""
    from ui.active_model import ActiveModel
    from vae.data import load_dataset

    active = ActiveModel(
        key="session:injected", name="injected", model=digits_model(),
        metadata={"name": "injected", "dataset": "digits", "dataset_source": "upload",
                  "dataset_file": INJECTION},
        dataset=load_dataset("digits"), source="session",
    )  # fmt: skip
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["vx_active_model"] = active
    at.run()
    assert not at.exception
    assert any(plain(INJECTION) in m.value for m in at.sidebar.markdown)  # the badge
    assert_no_markdown_from(INJECTION, at)
    at.switch_page("pages/models.py").run()
    assert not at.exception
    assert_no_markdown_from(INJECTION, at)


def test_a_saved_models_file_name_renders_as_text_in_a_link_warning(library: ModelLibrary):
    """A saved model trained on a file (the CLI's --data) opened by a link: the warning that
    the file is needed names it as text."""
    with_raw_metadata(library, "injected", digits_model(), data_file=INJECTION)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["model"] = "injected"
    at.run()
    assert not at.exception
    assert at.warning
    assert_no_markdown_from(INJECTION, at)


def test_an_upload_name_renders_as_text(library: ModelLibrary) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_dataset").set_value("upload").run()
    at.file_uploader(key="train_upload").set_value(
        (f"{INJECTION}.csv", b"a,b\n1,2\n", "text/csv")
    ).run()
    assert not at.exception
    assert_no_markdown_from(INJECTION, at)


@pytest.mark.parametrize("params", [{"z": INJECTION}, {INJECTION: "1"}])
def test_a_link_parameter_renders_as_text(library: ModelLibrary, params: dict) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.run()
    assert not at.exception
    assert_no_markdown_from(INJECTION, at, visible="![x](http://evil.example/img.p")


@pytest.mark.parametrize("page", ["pages/aggregate.py", "pages/latent_map.py", "pages/models.py"])
def test_null_mappings_in_metadata_do_not_break_pages(library: ModelLibrary, page: str) -> None:
    with_raw_metadata(library, "nulls", digits_model(), test_metrics=None, train_config=None,
                      history=None, preprocessing=None)  # fmt: skip
    at = open_linked("nulls", page)
    assert at.session_state["vx_active_model"].metadata["test_metrics"] == {}


def test_the_beta_page_with_null_train_configs(library: ModelLibrary) -> None:
    for name in ("a", "b"):
        with_raw_metadata(library, name, digits_model(), train_config=None)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/beta.py").run()
    at.radio(key="beta_source").set_value("two saved models").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) == 3


@pytest.mark.parametrize("latent_dim", [1, 3])
@pytest.mark.parametrize("page", MAP_PAGES)
def test_other_latent_sizes_get_a_message(library: ModelLibrary, latent_dim: int, page: str):
    """What `python -m vae train --latent-dim 3` makes, opened through a link."""
    library.save("wide", digits_model(latent_dim=latent_dim), {"name": "wide", "dataset": "digits"})
    at = open_linked("wide", page)
    assert any(f"{latent_dim}-dimensional latent space" in text for text in everything_shown(at))


def _huge(model: VAE, prefix: str) -> VAE:
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(prefix):
                parameter.copy_(torch.where(torch.rand_like(parameter) < 0.5, -3e38, 3e38))
    return model


@pytest.mark.parametrize("page", MAP_PAGES)
def test_huge_encoder_weights_get_a_message(library: ModelLibrary, page: str) -> None:
    library.save("huge", _huge(digits_model(), "encoder"), {"name": "huge", "dataset": "digits"})
    at = open_linked("huge", page)
    assert any("NaN or infinite values" in e.value for e in at.error), everything_shown(at)


def test_huge_decoder_weights_get_a_visible_warning(library: ModelLibrary) -> None:
    library.save("dark", _huge(digits_model(), "decoder"), {"name": "dark", "dataset": "digits"})
    at = open_linked("dark", "pages/latent_map.py")
    assert any("decoder gives NaN or infinite" in w.value for w in at.warning)


def test_the_beta_page_checks_the_input_size(library: ModelLibrary) -> None:
    """A swiss-roll model (3 inputs) whose metadata says digits: a message, not a crash."""
    library.save("digits ok", digits_model(), {"name": "digits ok", "dataset": "digits"})
    torch.manual_seed(0)
    roll = VAE(ModelConfig(input_dim=3, hidden=(16,), likelihood="gaussian")).eval()
    library.save("mislabelled", roll, {"name": "mislabelled", "dataset": "digits"})
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/beta.py").run()
    at.radio(key="beta_source").set_value("two saved models").run()
    at.selectbox(key="beta_saved_a").set_value("mislabelled").run()
    at.selectbox(key="beta_saved_b").set_value("digits ok").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("expects 3 values per example" in shown(w.value) for w in at.warning)


def test_class_names_from_a_file_are_text_in_plotly_legends() -> None:
    """Plotly renders <a href> in trace names as a link: a CSV's label column must not."""
    import numpy as np

    from viz.compare import embedding_figure
    from viz.latent_map import latent_map_figure

    evil = '<a href="http://phish.example">click</a><b>x</b>'
    mu, sigma = np.zeros((4, 2)), np.ones((4, 2))
    labels = np.array([0, 1, 0, 1])
    figures = [
        latent_map_figure(mu, sigma, labels, color_kind="class", class_names=("ok", evil)),
        embedding_figure({"μ": mu}, np.arange(4), labels, "class", class_names=("ok", evil)),
    ]
    for fig in figures:
        names = [trace.name or "" for trace in fig.data]
        assert any("&lt;a href" in name for name in names), names
        assert not any("<a" in name or "<b>" in name for name in names), names

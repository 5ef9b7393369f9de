"""AppTest of every page with a foreign model (an ONNX encoder and decoder imported into the
library) as the current model, and of the Models page's upload of one."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from foreign_graphs import card, shipped_decoder, shipped_encoder
from streamlit.testing.v1 import AppTest

from ui.active_model import ActiveModel
from ui.models import library_key
from vae.data import load_dataset
from vae.foreign.model import ForeignVAE
from vae.foreign.probe import validate_foreign
from vae.library import ModelLibrary
from vae.metadata import imported_metadata

TIMEOUT = 240
ROOT = Path(__file__).resolve().parent.parent
PAGES = ["pages/home.py", "pages/models.py", "pages/latent_map.py", "pages/inference.py",
         "pages/interpolate.py", "pages/manifold.py", "pages/compare.py", "pages/aggregate.py",
         "pages/beta.py", "pages/draw.py", "pages/surface_3d.py", "pages/train.py"]  # fmt: skip


@pytest.fixture(scope="module")
def fashion():
    return load_dataset("fashion-mnist")


@pytest.fixture(scope="module")
def graphs():
    return shipped_encoder(), shipped_decoder(), card().to_json().encode()


@pytest.fixture
def library(tmp_path, monkeypatch) -> ModelLibrary:
    folder = tmp_path / "models"
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(folder))
    return ModelLibrary(folder)


@pytest.fixture
def active(library, fashion, graphs) -> ActiveModel:
    encoder, decoder, _ = graphs
    validated = validate_foreign(encoder, decoder, card(), fashion.x_test)
    model = ForeignVAE(validated.encoder, validated.decoder, card())
    library.save("their model", model, imported_metadata("their model", card(),
                                                         validated.report, {}))  # fmt: skip
    entry = library.entry("their model")
    model, metadata = library.load("their model")
    return ActiveModel(key=library_key(entry), name=entry.name, model=model, metadata=metadata,
                       dataset=fashion, source="library")  # fmt: skip


def open_page(path: str, active: ActiveModel | None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if active is not None:
        at.session_state["vx_active_model"] = active
    at.run()
    assert not at.exception, at.exception
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += (
        [i.value for i in at.info] + [w.value for w in at.warning] + [e.value for e in at.error]
    )
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_a_foreign_model(page, active):
    at = open_page(page, active)
    assert not at.error, [e.value for e in at.error]


def test_latent_map_decodes_a_click_on_the_server(active):
    at = open_page("pages/latent_map.py", active)
    at.session_state["vx_clicked_z"] = [0.5, -0.5]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_models_page_lists_it_as_imported(active):
    at = open_page("pages/models.py", active)
    table = at.dataframe[0].value
    row = table[table["name"] == "their model"].iloc[0]
    assert row["model"] == "imported ONNX" and row["status"] == "ok"


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"export/{name}", data)
    return buffer.getvalue()


def test_models_page_imports_a_zip_and_refuses_a_wrong_card(library, graphs):
    from ui.foreign_upload import import_foreign

    encoder, decoder, good = graphs
    archive = zip_of({"encoder.onnx": encoder, "decoder.onnx": decoder, "card.json": good})
    entry, report = import_foreign(library, "zipped", {"archive": archive}, {})
    assert entry.ok and entry.metadata["foreign"]["decoder_output"] == "logits"
    assert report["probe_images"] == "256 test images of fashion-mnist"
    before = sorted(p.name for p in library.root.iterdir())
    wrong = card(encoder_outputs=["logvar", "mu"]).to_json().encode()
    with pytest.raises(ValueError, match="look swapped"):
        import_foreign(library, "wrong", {"encoder": encoder, "decoder": decoder, "card": wrong},
                       {})  # fmt: skip
    with pytest.raises(ValueError, match="no decoder.onnx"):
        import_foreign(library, "partial", {"archive": zip_of({"encoder.onnx": encoder,
                                                               "card.json": good})}, {})  # fmt: skip
    assert sorted(p.name for p in library.root.iterdir()) == before

"""Rule 3 of docs/SECURITY.md for checkpoints: an uploaded checkpoint is decoded only in the
upload sandbox's child (runner/sandbox.py), under an address-space cap computed from what the
check allocates (vae.checkpoint.upload_memory); the server gets back the checkpoint as this app
writes it, and a broken upload never replaces a good model.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save
from streamlit.testing.v1 import AppTest

from runner.sandbox import ParseLimitError, validate_checkpoint_upload
from tests.conftest import small_model
from tests.hostile import ROOT, assert_clear_message, folder_state, shown
from tests.test_hostile_checkpoints import CASES, document, nan_weights, tensors, with_tensors
from vae import metadata_check
from vae.checkpoint import (
    FORMAT_KEY,
    CheckpointError,
    checkpoint_bytes,
    load_checkpoint,
    revalidate_upload,
    upload_memory,
)
from vae.library import ModelLibrary


def spaced(data: bytes) -> bytes:
    """The same checkpoint with its header written by another tool (spaces after the JSON
    separators): bytes the app's own writer never makes, so a parse of them is a parse of
    the upload itself."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    raw = json.dumps(header, indent=1).encode()
    return struct.pack("<Q", len(raw)) + raw + data[8 + length :]


def header_of(document_text: str, declared: dict | None = None) -> bytes:
    """A file holding only a header: the small model's tensors declared, none present."""
    entries = declared or {}
    raw = json.dumps({"__metadata__": {FORMAT_KEY: document_text}, **entries}).encode()
    return struct.pack("<Q", len(raw)) + raw


def seven_million_values() -> bytes:
    """The issue's header bomb: ~7 M zeros in a valid 16 MB header."""
    doc = json.loads(document())
    doc["metadata"]["extra"] = [[0] * 2_400 for _ in range(2_900)]
    return with_tensors(tensors(), json.dumps(doc, separators=(",", ":")))


def metadata_with(**fields) -> bytes:
    doc = json.loads(document())
    doc["metadata"].update(fields)
    return with_tensors(tensors(), json.dumps(doc))


def wrong_shape() -> bytes:
    state = tensors()
    state["encoder_head.weight"] = torch.zeros(3, 3)
    return with_tensors(state)


# Each path the issue names: (id, contents, the sentence). The first four go through the real
# child (a child per case costs a torch import, seconds on a loaded machine); all of them
# through revalidate_upload, the function the child runs.
HOSTILE = [
    ("header-7-million-values", seven_million_values(), "values; at most 250,000"),
    ("header-nested-100k-deep",
     struct.pack("<Q", 200_007) + b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "nested too deeply"),
    ("nan-weights", with_tensors(nan_weights()), "NaN or infinite"),
    ("surrogate-in-created", metadata_with(created="x\ud800y"), "not valid Unicode"),
    ("header-claims-2^63-bytes", struct.pack("<Q", 2**63) + b"{}", "not a vae-explorer"),
    ("truncated-tensors", checkpoint_bytes(small_model(), {})[:-100], "truncated"),
    ("tensors-declared-none-present", header_of(document()), "missing weights|truncated"),
    ("wrong-shape", wrong_shape(), r"shape \[3, 3\], the model needs"),
    ("huge-metadata-string", metadata_with(dataset_file="x" * 200_000), "at most 1,000"),
    ("surrogate-in-a-key", metadata_with(test_metrics={"\udfff": 1.0}), "not valid Unicode"),
]  # fmt: skip
THROUGH_THE_CHILD = HOSTILE[:4]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("data", "message"), [c[1:] for c in THROUGH_THE_CHILD], ids=[c[0] for c in THROUGH_THE_CHILD]
)
def test_the_child_refuses_each_hostile_path_with_a_sentence(data: bytes, message: str) -> None:
    with pytest.raises(CheckpointError) as refused:
        validate_checkpoint_upload(data, "upload.safetensors", "m")
    assert_clear_message(str(refused.value), message)


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_what_the_child_runs_refuses_each_hostile_path(data, message, tmp_path: Path) -> None:
    (tmp_path / "upload").write_bytes(data)
    with pytest.raises(CheckpointError) as refused:
        revalidate_upload(tmp_path / "upload", "m")
    assert_clear_message(str(refused.value), message)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_what_the_child_runs_refuses_every_hostile_checkpoint(case, tmp_path: Path) -> None:
    """All the hostile checkpoints of test_hostile_checkpoints.py through revalidate_upload,
    the function the child runs (in this process: a child per case would take minutes)."""
    path = tmp_path / "upload"
    path.write_bytes(case.make(tmp_path / "marker"))
    with pytest.raises(CheckpointError) as refused:
        revalidate_upload(path, "m")
    assert_clear_message(str(refused.value), case.message)
    assert not (tmp_path / "marker").exists()


def test_the_server_gets_back_the_checkpoint_as_this_app_writes_it(tmp_path: Path) -> None:
    model = small_model(seed=3)
    upload = spaced(checkpoint_bytes(model, {"name": "theirs", "dataset": "digits"}))
    result = validate_checkpoint_upload(upload, "theirs.safetensors", "mine")
    assert isinstance(result, bytes) and result != upload
    (length,) = struct.unpack("<Q", result[:8])
    assert b"\n" not in result[8 : 8 + length]  # re-serialised, not the upload's own header
    (tmp_path / "m.safetensors").write_bytes(result)
    loaded, metadata = load_checkpoint(tmp_path / "m.safetensors")
    assert metadata["name"] == "mine" and metadata["dataset"] == "digits"
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_a_checkpoint_over_the_memory_budget_is_refused_before_it_is_read() -> None:
    data = checkpoint_bytes(small_model(), {})
    (length,) = struct.unpack("<Q", data[:8])
    need = upload_memory(len(data), length)
    budget = need // 2**20 - 1
    with pytest.raises(ParseLimitError) as refused:
        validate_checkpoint_upload(data, "big.safetensors", "m", memory_limit_mb=budget)
    assert_clear_message(
        str(refused.value), rf"needs about \d+ MB to check, more than the {budget}"
    )


@pytest.mark.slow
def test_the_memory_cap_holds_a_large_model_with_a_large_header() -> None:
    """A 60 MB model with a 12 MB header passes under the cap upload_memory() computes (the
    child's address space is what it holds plus that): the formula is not too tight."""
    torch.manual_seed(0)
    from vae import VAE, ModelConfig

    model = VAE(ModelConfig(input_dim=784, image_shape=(28, 28), hidden=(2500, 2000)))
    extra = {f"k{i}": ["a" * 220] * 240 for i in range(240)}
    data = checkpoint_bytes(model, {"extra": extra})
    assert len(data) > 60 * 2**20 and struct.unpack("<Q", data[:8])[0] > 12 * 2**20
    result = validate_checkpoint_upload(data, "large.safetensors", "large")
    assert abs(len(result) - len(data)) < 1_000  # the same weights and metadata, renamed


# --- the Models page --------------------------------------------------------------------------


def _models_page(monkeypatch, library: ModelLibrary) -> AppTest:
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(library.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _add(at: AppTest, name: str, data: bytes, overwrite: bool = False) -> None:
    at.file_uploader(key="models_upload").set_value(
        (f"{name}.safetensors", data, "application/octet-stream")
    ).run()
    at.text_input(key="models_upload_name").set_value(name)
    if overwrite:
        at.checkbox(key="models_upload_overwrite").check()
    at.button(key="models_upload_add").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_the_models_page_never_parses_an_upload_in_the_server(monkeypatch, tmp_path) -> None:
    """The upload's own header (written with spaces, as no app writer does) never reaches a
    JSON parse in this process; only the child's re-serialised bytes do."""
    upload = spaced(checkpoint_bytes(small_model(seed=4), {"name": "x", "dataset": "digits"}))
    (length,) = struct.unpack("<Q", upload[:8])
    their_header = upload[8 : 8 + length]
    seen: list[bytes] = []
    strict_json = metadata_check.strict_json

    def spy(text, *args, **kwargs):
        seen.append(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        return strict_json(text, *args, **kwargs)

    monkeypatch.setattr(metadata_check, "strict_json", spy)
    library = ModelLibrary(tmp_path / "models")
    at = _models_page(monkeypatch, library)
    _add(at, "theirs", upload)
    assert not at.error, [e.value for e in at.error]
    assert library.entry("theirs").ok
    assert seen, "the spy saw no parse at all"
    assert not any(raw == their_header for raw in seen), "the upload was parsed in the server"


@pytest.mark.slow
def test_a_broken_upload_never_replaces_a_good_model(monkeypatch, tmp_path) -> None:
    library = ModelLibrary(tmp_path / "models")
    library.save("good", small_model(), {"dataset": "digits"})
    before = folder_state(library.root)
    at = _models_page(monkeypatch, library)
    for data, message in [(with_tensors(nan_weights()), "NaN or infinite"),
                          (metadata_with(created="x\ud800y"), "not valid Unicode"),
                          (seven_million_values(), "at most 250,000")]:  # fmt: skip
        _add(at, "good", data, overwrite=True)
        errors = [shown(e.value) for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("This file cannot be used: "), errors
        assert_clear_message(errors[0], message)
        assert folder_state(library.root) == before
    assert load_checkpoint(library.path_for("good"))[1]["dataset"] == "digits"


def test_an_imported_models_checkpoint_goes_on_to_the_onnx_checks(monkeypatch, tmp_path) -> None:
    """A foreign checkpoint's parts come back from the checkpoint child (its header, entries
    and card checked there) and go on to import_foreign, whose graphs the ONNX child checks
    and runs: neither is parsed in the server first."""
    import ui.foreign_upload
    from tests.foreign_graphs import card

    handed = []

    def import_foreign(library, name, files, sources, overwrite=False):
        handed.append(files)
        raise CheckpointError("stopped before the ONNX child")

    monkeypatch.setattr(ui.foreign_upload, "import_foreign", import_foreign)
    doc = json.loads(document())
    doc["foreign"] = card().to_dict()
    graphs = {"onnx.encoder": torch.arange(5, dtype=torch.uint8),
              "onnx.decoder": torch.arange(7, dtype=torch.uint8)}  # fmt: skip
    upload = spaced(st_save(graphs, metadata={FORMAT_KEY: json.dumps(doc)}))
    at = _models_page(monkeypatch, ModelLibrary(tmp_path / "models"))
    _add(at, "imported", upload)
    assert [shown(e.value) for e in at.error] == [
        "This file cannot be used: stopped before the ONNX child"
    ]
    (files,) = handed
    assert files["encoder"] == bytes(range(5)) and files["decoder"] == bytes(range(7))
    assert json.loads(files["card"]) == card().to_dict()

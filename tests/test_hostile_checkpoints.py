"""Hostile checkpoints, each tried on every way a file gets in: upload (ModelLibrary.import_bytes,
the Models page), a file dropped into the library folder, and the CLI (info, evaluate).

Every case must end in one clear sentence, run nothing from the file, and leave the library
folder byte-identical and the session's current model where it was.
"""

from __future__ import annotations

import io
import json
import mmap
import pickle
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from tests.conftest import small_model
from tests.hostile import (
    assert_clear_message,
    assert_cli_refused,
    folder_state,
    run_cli,
    run_cli_process,
    shown,
)
from vae import checkpoint
from vae.checkpoint import (
    FORMAT_KEY,
    MAX_CHECKPOINT_BYTES,
    CheckpointError,
    checkpoint_bytes,
    load_checkpoint,
)
from vae.config import ModelConfig
from vae.library import ModelLibrary
from vae.model import VAE

MARKER_NAME = "PAYLOAD_RAN"  # the payloads create this file; its absence proves they never ran


class Payload:
    """Unpickling this runs Python code (exec) that writes the marker: a real attack's shape."""

    def __init__(self, marker: Path) -> None:
        self.code = f"open({str(marker)!r}, 'w').write('pwned')"

    def __reduce__(self):
        return (exec, (self.code,))


def good_bytes() -> bytes:
    return checkpoint_bytes(small_model(), {"name": "good", "dataset": "digits"})


def document(config: dict | None = None, **changes) -> str:
    doc = {
        "format": "vae-explorer",
        "format_version": 1,
        "model_config": config or small_model().config.to_dict(),
        "metadata": {"name": "m", "dataset": "digits"},
    }
    doc.update(changes)
    return json.dumps(doc)


def with_tensors(tensors: dict[str, torch.Tensor], doc: str | None = None) -> bytes:
    return st_save(tensors, metadata={FORMAT_KEY: doc or document()})


def tensors(**edits: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The small model's weights with some replaced (a tensor) or removed (None)."""
    state = {k: v.clone().contiguous() for k, v in small_model().state_dict().items()}
    for name, value in edits.items():
        name = name.replace("__", ".")
        if value is None:
            state.pop(name)
        else:
            state[name] = value
    return state


def nan_weights() -> dict[str, torch.Tensor]:
    state = tensors()
    state["encoder_head.weight"][0, 0] = float("nan")
    return state


def pickle_raw(marker: Path) -> bytes:
    return pickle.dumps({"state_dict": Payload(marker)})


def pickle_protocol0(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker), protocol=0)


def torch_save(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": Payload(marker)}, buffer)
    return buffer.getvalue()


def length_then_pickle(marker: Path) -> bytes:
    """A plausible safetensors length prefix followed by a pickle instead of JSON."""
    body = pickle.dumps(Payload(marker))
    return struct.pack("<Q", len(body)) + body


def npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, w=np.zeros(3))
    return buffer.getvalue()


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.safetensors", good_bytes())
    return buffer.getvalue()


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


def nested_header(depth: int) -> bytes:
    """A safetensors header whose own JSON nests `depth` lists deep."""
    body = b'{"x": ' + b"[" * depth + b"]" * depth + b"}"
    return struct.pack("<Q", len(body)) + body


def padded_header(length: int) -> bytes:
    """A valid checkpoint whose header is padded with spaces to `length` bytes (JSON allows it)."""
    good = good_bytes()
    (n,) = struct.unpack("<Q", good[:8])
    header = good[8 : 8 + n] + b" " * (length - n)
    return struct.pack("<Q", length) + header + good[8 + n :]


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Path], bytes]  # marker path -> file contents
    message: str  # regex the one clear sentence must match


_GOOD_LEN = len(good_bytes())
CASES = [
    # Code execution attempts: the payload must never run.
    Case("pickle-dict", pickle_raw, "not a vae-explorer checkpoint"),
    Case("pickle-protocol-0", pickle_protocol0, "not a vae-explorer checkpoint"),
    Case("torch-save-zip", torch_save, "not a vae-explorer checkpoint"),
    Case("length-prefix-then-pickle", length_then_pickle, "not a vae-explorer checkpoint"),
    # Broken files.
    Case("empty", lambda m: b"", "is empty"),
    Case("truncated-4-bytes", lambda m: good_bytes()[:4], "truncated"),
    Case("truncated-in-header", lambda m: good_bytes()[:200], "truncated|not a vae-explorer"),
    Case("truncated-in-tensors", lambda m: good_bytes()[: _GOOD_LEN - 100], "truncated"),
    Case("one-byte-short", lambda m: good_bytes()[:-1], "truncated"),
    Case("random-bytes", lambda m: np.random.default_rng(0).bytes(4096), "not a vae-explorer"),
    Case(
        "random-after-small-length",
        lambda m: struct.pack("<Q", 64) + np.random.default_rng(1).bytes(256),
        "not a vae-explorer|corrupt",
    ),
    Case("header-not-json", lambda m: struct.pack("<Q", 5) + b"{abcd" + bytes(64), "corrupt"),
    # Valid safetensors, wrong content.
    Case(
        "wrong-shape",
        lambda m: with_tensors(tensors(**{"encoder_head__weight": torch.zeros(3, 3)})),
        "has shape",
    ),
    Case(
        "wrong-dtype-f64",
        lambda m: with_tensors(
            tensors(**{"encoder_head__weight": tensors()["encoder_head.weight"].double()})
        ),
        "dtype F64",
    ),
    Case(
        "wrong-dtype-int",
        lambda m: with_tensors(
            tensors(**{"encoder_head__bias": torch.zeros(4, dtype=torch.int32)})
        ),
        "dtype I32",
    ),
    Case(
        "missing-tensor",
        lambda m: with_tensors(tensors(**{"encoder_head__bias": None})),
        "missing weights",
    ),
    Case(
        "extra-tensor",
        lambda m: with_tensors(tensors(**{"evil__weight": torch.zeros(2)})),
        "unexpected weights",
    ),
    Case("nan-weights", lambda m: with_tensors(nan_weights()), "NaN or infinite"),
    # Configs that ask for absurd sizes: refused before allocating.
    Case(
        "width-1e9",
        lambda m: with_tensors(tensors(), document({"input_dim": 64, "hidden": [10**9]})),
        "invalid model config",
    ),
    Case(
        "input-dim-1e12",
        lambda m: with_tensors(tensors(), document({"input_dim": 10**12})),
        "invalid model config",
    ),
    Case(
        "depth-1000",
        lambda m: with_tensors(tensors(), document({"input_dim": 64, "hidden": [8] * 1000})),
        "invalid model config",
    ),
    Case(
        "huge-but-in-bounds-config-tiny-file",
        lambda m: with_tensors(
            {"w": torch.zeros(1)}, document({"input_dim": 4096, "hidden": [8192, 6000]})
        ),
        "missing weights",
    ),
    Case(
        "config-wrong-types",
        lambda m: with_tensors(tensors(), document({"input_dim": "64", "hidden": "abc"})),
        "invalid model config",
    ),
    Case(
        "config-unknown-field",
        lambda m: with_tensors(tensors(), document({"input_dim": 64, "__class__": "os.system"})),
        "invalid model config",
    ),
    # Other formats and other programs' files.
    Case("npz", lambda m: npz(), "not a vae-explorer"),
    Case("zip-holding-a-checkpoint", lambda m: zipped(), "not a vae-explorer"),
    Case("png", lambda m: png(), "not a vae-explorer"),
    Case("json-text", lambda m: b'{"format": "vae-explorer"}', "not a vae-explorer"),
    Case("html", lambda m: b"<html><script>alert(1)</script></html>", "not a vae-explorer"),
    Case(
        "plain-safetensors-no-metadata",
        lambda m: st_save(tensors()),
        "not a vae-explorer checkpoint",
    ),
    Case(
        "future-format-version",
        lambda m: with_tensors(tensors(), document(format_version=99)),
        "format version 99",
    ),
    Case(
        "metadata-wrong-types",
        lambda m: with_tensors(
            tensors(),
            document(metadata={"name": "m", "test_metrics": [1, 2], "history": 5}),
        ),
        "invalid metadata",
    ),
    # Metadata that parses but must not reach a page: one validation at load refuses it.
    Case(
        "elbo-1e30-integer",
        lambda m: with_tensors(
            tensors(), document(metadata={"name": "m", "test_metrics": {"elbo": 10**30}})
        ),
        "elbo is an integer of 31 digits, too large",
    ),
    Case(
        "metric-nan-constant",
        lambda m: with_tensors(
            tensors(), document().replace('"dataset": "digits"', '"x": NaN, "dataset": "digits"')
        ),
        "not a number JSON allows",
    ),
    Case(
        "history-20k-entries",
        lambda m: with_tensors(
            tensors(), document(metadata={"name": "m", "history": [{"loss": 1.0}] * 20_000})
        ),
        "at most 10,000",
    ),
    Case(
        "format-version-5mb-string",
        lambda m: with_tensors(tensors(), document(format_version="9" * 5_000_000)),
        "format version '9999",
    ),
    Case(
        "dataset-file-100k-chars",
        lambda m: with_tensors(
            tensors(), document(metadata={"name": "m", "dataset_file": "a" * 100_000})
        ),
        "100,000 characters long",
    ),
    Case(
        "metadata-nested-100k-deep",
        lambda m: with_tensors(
            tensors(),
            document().replace('"dataset": "digits"', '"deep": ' + "[" * 100_000 + "]" * 100_000),
        ),
        "nested too deeply",
    ),
    Case(
        "metadata-nested-20-deep",
        lambda m: with_tensors(
            tensors(), document().replace('"dataset": "digits"', '"deep": ' + "[" * 20 + "]" * 20)
        ),
        "nested too deeply",
    ),
    Case("header-nested-100k-deep", lambda m: nested_header(100_000), "nested too deeply"),
    Case("header-17mb", lambda m: padded_header(17 * 2**20), "17 MB header, more than the 16 MB"),
    Case(
        "train-config-beta-text",
        lambda m: with_tensors(
            tensors(), document(metadata={"name": "m", "train_config": {"beta": "<b>1</b>"}})
        ),
        "train_config 'beta'",
    ),
    Case(
        "history-entry-huge-float",
        lambda m: with_tensors(
            tensors(), document(metadata={"name": "m", "history": [{"loss": 1e300}]})
        ),
        "not a plausible measurement",
    ),
    Case(
        "metadata-history-of-strings",
        lambda m: with_tensors(
            tensors(), document(metadata={"name": "m", "history": [{"loss": "<script>"}]})
        ),
        "invalid metadata",
    ),
]
IDS = [case.id for case in CASES]


@pytest.fixture
def library(tmp_path: Path) -> ModelLibrary:
    """A library that already holds one good model (which must survive every case)."""
    lib = ModelLibrary(tmp_path / "models")
    lib.save("good", small_model(), {"name": "good", "dataset": "digits"})
    return lib


def test_the_payloads_are_real(tmp_path: Path) -> None:
    """Reference: unpickling each payload does write the marker, so its absence below means
    the payload never ran, not that it was harmless."""
    for make in (pickle_raw, pickle_protocol0):
        marker = tmp_path / f"{make.__name__}-ran"
        pickle.loads(make(marker))
        assert marker.read_text() == "pwned"
    marker = tmp_path / "torch-ran"
    torch.load(io.BytesIO(torch_save(marker)), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_upload_is_refused_and_the_library_is_untouched(
    case: Case, library: ModelLibrary, tmp_path: Path
) -> None:
    marker = tmp_path / MARKER_NAME
    data = case.make(marker)
    before = folder_state(library.root)
    for overwrite in (False, True):  # even when allowed to replace "good"
        with pytest.raises(CheckpointError) as caught:
            library.import_bytes("good", data, overwrite=overwrite)
        assert_clear_message(str(caught.value), case.message)
        with pytest.raises(CheckpointError):
            library.import_bytes("newname", data)
    assert folder_state(library.root) == before  # no temp file left, "good" byte-identical
    assert library.names() == ["good"]
    assert not marker.exists()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_file_dropped_into_the_library_is_listed_as_broken(
    case: Case, library: ModelLibrary, tmp_path: Path
) -> None:
    marker = tmp_path / MARKER_NAME
    (library.root / "dropped.safetensors").write_bytes(case.make(marker))
    entries = {entry.name: entry for entry in library.list()}
    assert entries["good"].ok
    dropped = entries["dropped"]
    if dropped.ok:  # the header is fine; the weights are what is wrong
        assert case.id in {
            "wrong-shape", "wrong-dtype-f64", "wrong-dtype-int", "missing-tensor",
            "extra-tensor", "nan-weights", "huge-but-in-bounds-config-tiny-file",
            "truncated-in-tensors", "one-byte-short",
        }  # fmt: skip
    else:
        assert_clear_message(dropped.error, case.message)
    with pytest.raises(CheckpointError) as caught:
        library.load("dropped")
    assert_clear_message(str(caught.value), case.message)
    model, _ = library.load("good")  # the neighbour still loads
    assert torch.equal(model.state_dict()["encoder_head.weight"],
                       small_model().state_dict()["encoder_head.weight"])  # fmt: skip
    assert not marker.exists()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_refuses_with_one_error_line(case: Case, tmp_path: Path) -> None:
    marker = tmp_path / MARKER_NAME
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(case.make(marker))
    info = ["info", "--checkpoint", str(path)]
    evaluate = ["evaluate", "--checkpoint", str(path), "--dataset", "digits", "--iw", "0"]
    for argv in (info, evaluate):
        code, out, err = run_cli(argv)
        if argv is info and code == 0:  # info reads the header only: weights are not checked
            assert case.id in {
                "wrong-shape", "wrong-dtype-f64", "wrong-dtype-int", "missing-tensor",
                "extra-tensor", "nan-weights", "huge-but-in-bounds-config-tiny-file",
                "truncated-in-tensors", "one-byte-short",
            }  # fmt: skip
            continue
        assert_cli_refused(code, err, case.message)
    assert not marker.exists()


def test_huge_config_is_never_allocated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 400-byte file asking for 165 M parameters: refused with no real model built."""
    built: list[str] = []
    real_vae = checkpoint.VAE

    def spy(config: ModelConfig) -> VAE:
        model = real_vae(config)
        built.append(next(model.parameters()).device.type)
        return model

    monkeypatch.setattr(checkpoint, "VAE", spy)
    path = tmp_path / "huge.safetensors"
    path.write_bytes(CASES[IDS.index("huge-but-in-bounds-config-tiny-file")].make(tmp_path))
    assert path.stat().st_size < 1000
    with pytest.raises(CheckpointError, match="missing weights"):
        load_checkpoint(path)
    assert built == ["meta"]  # shapes were checked on the meta device only


def test_file_beyond_the_size_limit_is_refused_unread(library: ModelLibrary, tmp_path: Path):
    """A sparse file one byte over the limit: refused from its size, before any read."""
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as handle:
        handle.truncate(MAX_CHECKPOINT_BYTES + 1)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert_clear_message(str(caught.value), "more than the 512 MB")
    code, _, err = run_cli(["info", "--checkpoint", str(path)])
    assert_cli_refused(code, err, "more than the 512 MB")
    before = folder_state(library.root)
    with (
        open(path, "rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view,
        pytest.raises(CheckpointError) as caught,
    ):
        library.import_bytes("good", view, overwrite=True)  # type: ignore[arg-type]
    assert_clear_message(str(caught.value), "more than the 512 MB")
    assert folder_state(library.root) == before


def test_streamlit_upload_limit_is_set_deliberately() -> None:
    """The browser upload cap sits below the checkpoint cap: the server refuses bigger uploads
    before any of our code sees them."""
    import tomllib

    config = tomllib.loads((Path(__file__).parents[1] / ".streamlit/config.toml").read_text())
    limit_mb = config["server"]["maxUploadSize"]
    assert 1 <= limit_mb <= MAX_CHECKPOINT_BYTES // 2**20
    assert config["server"].get("enableXsrfProtection", True) is True


@pytest.mark.slow
@pytest.mark.parametrize("case_id", ["torch-save-zip", "width-1e9"])
def test_cli_subprocess_refuses(case_id: str, tmp_path: Path) -> None:
    """A few cases through a real `python -m vae` process, as a user would meet them."""
    marker = tmp_path / MARKER_NAME
    case = CASES[IDS.index(case_id)]
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(case.make(marker))
    code, _, err = run_cli_process(["info", "--checkpoint", str(path)])
    assert_cli_refused(code, err, case.message)
    assert not marker.exists()


# --- the Models page, through Streamlit's own test driver --------------------------------------


def _active_model():
    """A session model (as after training): the page must leave it as the current model."""
    from ui.active_model import ActiveModel
    from vae.data import load_dataset

    return ActiveModel(
        key="session:hostile-test",
        name="current",
        model=small_model(seed=1).eval(),
        metadata={"name": "current", "dataset": "digits"},
        dataset=load_dataset("digits"),
        source="session",
    )


# One case of each kind through the page: the page checks an upload in the sandbox's child (a
# torch import each, seconds on a loaded machine), and every case goes through what the child
# runs in tests/test_checkpoint_sandbox.py.
PAGE_CASES = ["pickle-dict", "truncated-in-tensors", "nan-weights", "wrong-shape", "width-1e9",
              "metadata-wrong-types", "header-nested-100k-deep", "header-17mb"]  # fmt: skip


@pytest.mark.slow
def test_models_page_upload_shows_an_error_for_each_kind(
    library: ModelLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case of each kind uploaded on the Models page and added: an st.error naming the
    problem, no exception, the current model unchanged, the library folder byte-identical."""
    from streamlit.testing.v1 import AppTest

    from tests.hostile import ROOT

    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(library.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    active = _active_model()
    at.session_state["vx_active_model"] = active
    at.run()  # app.py first, as a browser's first visit
    at.switch_page("pages/models.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    before = folder_state(library.root)
    marker = tmp_path / MARKER_NAME
    handled = []
    for case in (case for case in CASES if case.id in PAGE_CASES):
        at.file_uploader(key="models_upload").set_value(
            (f"{case.id}.safetensors", case.make(marker), "application/octet-stream")
        )
        at.run()
        at.checkbox(key="models_upload_overwrite").check()  # even when replacing is allowed
        at.text_input(key="models_upload_name").set_value("good")
        at.button(key="models_upload_add").click()
        at.run()
        assert not at.exception, (case.id, [e.value for e in at.exception])
        errors = [shown(e.value) for e in at.error]
        assert len(errors) == 1, (case.id, errors)
        assert errors[0].startswith("This file cannot be used: "), (case.id, errors)
        assert_clear_message(errors[0], case.message)
        assert at.session_state["vx_active_model"].key == active.key
        assert folder_state(library.root) == before, case.id
        assert not marker.exists(), case.id
        handled.append(case.id)
    assert sorted(handled) == sorted(PAGE_CASES)


# --- no pickle anywhere on the load path -------------------------------------------------------

UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}
UNSAFE_CALLS = {"eval", "exec", "torch.load", "np.load", "numpy.load", "__import__"}


def _dotted(node) -> str:
    import ast

    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def test_no_pickle_or_code_execution_in_the_app_and_library_source() -> None:
    """vae/, viz/, runner/, ui/, pages/ and app.py import no pickle-like module and call no eval/exec/
    torch.load; np.load is only ever called with allow_pickle=False."""
    import ast

    from tests.hostile import ROOT

    files = [ROOT / "app.py"] + [
        path for part in ("vae", "viz", "runner", "ui", "pages")
        for path in sorted((ROOT / part).rglob("*.py"))
    ]  # fmt: skip
    problems = []
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                problems += [f"{where} imports {a.name}" for a in node.names
                             if a.name.split(".")[0] in UNSAFE_MODULES]  # fmt: skip
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[0] in UNSAFE_MODULES:
                    problems.append(f"{where} imports from {node.module}")
            elif isinstance(node, ast.Call) and _dotted(node.func) in UNSAFE_CALLS:
                name = _dotted(node.func)
                safe_np_load = name.endswith("np.load") or name == "numpy.load"
                if safe_np_load and any(
                    k.arg == "allow_pickle"
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is False
                    for k in node.keywords
                ):
                    continue
                problems.append(f"{where} calls {name}")
    assert len(files) > 20
    assert not problems, problems


def test_null_mappings_in_metadata_are_read_as_empty(tmp_path: Path) -> None:
    """`test_metrics: null` and friends (valid JSON, written by another tool): every reader
    gets the empty mapping or list the pages and the CLI call .get / len on."""
    nulls = {"name": "m", "dataset": "digits", "test_metrics": None, "train_config": None,
             "preprocessing": None, "history": None}  # fmt: skip
    path = tmp_path / "nulls.safetensors"
    path.write_bytes(with_tensors(tensors(), document(metadata=nulls)))
    for metadata in (checkpoint.read_metadata(path), load_checkpoint(path)[1]):
        assert metadata["test_metrics"] == metadata["train_config"] == {}
        assert metadata["preprocessing"] == {} and metadata["history"] == []
    code, out, err = run_cli(["info", "--checkpoint", str(path)])
    assert code == 0, err

"""Rule 2 of docs/SECURITY.md: one strict reader for every file the app reads
(vae/strict_files.py), and the model library's listing built on it.

Each defect of issue #20 it answers is reproduced here: a lone surrogate in `created`, 7 M
values in a 16 MB header, a forged `created` pinning a model to the top, three corrupt files
listed as "ok" and refused only at load, a listing parsing every file on every visit and
holding every history.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hostile import ROOT
from vae import VAE, ModelConfig
from vae import library as library_module
from vae.checkpoint import FORMAT_KEY, CheckpointError, checkpoint_bytes, load_checkpoint
from vae.library import ModelLibrary
from vae.strict_files import (
    UnsafeFileError,
    VersionCache,
    count_json_values,
    open_regular,
    strict_json,
)


def small_model(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(16,))).eval()


def edited(data: bytes, edit_header=None, edit_metadata=None, raw_metadata: str | None = None):
    """The checkpoint `data` with its header or metadata document changed, the weights kept."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    document = json.loads(header["__metadata__"][FORMAT_KEY])
    if edit_metadata is not None:
        edit_metadata(document["metadata"])
    header["__metadata__"][FORMAT_KEY] = (
        raw_metadata if raw_metadata is not None else json.dumps(document, separators=(",", ":"))
    )
    if edit_header is not None:
        edit_header(header)
    raw = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(raw)) + raw + data[8 + length :]


def put(library: ModelLibrary, name: str, data: bytes, mtime: float | None = None) -> Path:
    library.root.mkdir(parents=True, exist_ok=True)
    path = library.root / f"{name}.safetensors"
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def library(tmp_path: Path) -> ModelLibrary:
    library_module._VERIFIED.clear()
    return ModelLibrary(tmp_path / "models")


def test_a_lone_surrogate_in_metadata_is_refused_at_listing(library: ModelLibrary) -> None:
    data = checkpoint_bytes(small_model(), {"name": "m"})
    document = json.loads(json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])
                          ["__metadata__"][FORMAT_KEY])  # fmt: skip
    document["metadata"]["created"] = "x\ud800y"
    # json.dumps writes the surrogate as the escape "\ud800": valid JSON, invalid Unicode
    put(library, "surrogate", edited(data, raw_metadata=json.dumps(document)))
    (entry,) = library.list()
    assert not entry.ok and "not valid Unicode" in entry.error
    with pytest.raises(CheckpointError, match="not valid Unicode"):
        library.load("surrogate")


def test_a_lone_surrogate_in_a_key_is_refused() -> None:
    with pytest.raises(UnsafeFileError, match="not valid Unicode"):
        strict_json('{"a\\udfff": 1}', "the file")
    assert strict_json('{"\\ud83d\\ude00": "\\ud83d\\ude00"}', "the file") == {"😀": "😀"}


@pytest.mark.parametrize(
    "text",
    ['[1, "a,b", {"c": [null, true]}, []]', '"x"', '{"k": "[{,,,}]"}', '[[[[0,0],[0]]]]',
     '{"a": "\\"],[", "b": 2}'],
)  # fmt: skip
def test_the_value_count_bounds_the_values_json_makes(text: str) -> None:
    def values(item) -> int:  # counted on the parsed document: the independent count
        if isinstance(item, dict):
            return 1 + sum(values(v) for v in item.values())
        if isinstance(item, list):
            return 1 + sum(values(v) for v in item)
        return 1

    parsed = json.loads(text)
    assert values(parsed) <= count_json_values(text.encode()) <= 2 * values(parsed) + 1


# Strings full of what the count looks at: quotes, backslashes, commas and brackets.
_TRICKY_TEXT = st.text(st.sampled_from('\\",[{]}a\u00e9\U0001f600'), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TRICKY_TEXT, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(document=_JSON, ascii_only=st.booleans())
def test_the_value_count_is_exact_whatever_the_strings_hold(document, ascii_only) -> None:
    """Escaped quotes and backslashes, and brackets inside strings, never shift the count: it
    is the number of values plus one for each empty list or mapping (its bracket)."""

    def values(item) -> tuple[int, int]:  # (values, empty containers)
        if isinstance(item, dict | list):
            inner = [values(v) for v in (item.values() if isinstance(item, dict) else item)]
            return 1 + sum(v for v, _ in inner), (not inner) + sum(e for _, e in inner)
        return 1, 0

    raw = json.dumps(document, ensure_ascii=ascii_only).encode()
    made, empty = values(document)
    assert count_json_values(raw) == made + empty


def test_counting_two_million_strings_allocates_a_few_copies_of_the_text() -> None:
    """The count makes no Python object per string: a regular expression that blanked them
    allocated 22 times the text (233 MB for a 10.5 MB history of 1.1 M metrics)."""
    import tracemalloc

    raw = json.dumps([{f"m{i}": 0.5 for i in range(110)}] * 10_000).encode()
    tracemalloc.start()
    try:
        assert count_json_values(raw) == 1 + 10_000 + 1_100_000
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(raw), f"{peak / 2**20:.0f} MB for {len(raw) / 2**20:.0f} MB of text"


def test_seven_million_zeros_are_refused_before_they_are_built(library: ModelLibrary) -> None:
    """A 256 × 256 × 110 list of zeros fits in a 16 MB header (issue #20: 11-19 s listings)."""
    zeros = [[[0] * 110] * 256] * 256
    data = checkpoint_bytes(small_model(), {"name": "m"})
    put(library, "zeros", edited(data, edit_metadata=lambda m: m.update(extra=zeros)))
    assert 14_000_000 < os.path.getsize(library.root / "zeros.safetensors") < 16 * 2**20
    (entry,) = library.list()
    assert not entry.ok and "values; at most" in entry.error


def test_a_real_history_of_ten_thousand_epochs_fits(library: ModelLibrary) -> None:
    record = {"epoch": 1, "seconds": 0.1, "kl_weight": 1.0, "lr": 1e-3, "train_loss": 1.0,
              "train_recon": 1.0, "train_kl": 1.0, "train_elbo": -1.0, "test_recon": 1.0,
              "test_kl": 1.0, "test_elbo": -1.0}  # fmt: skip
    library.save("long", small_model(), {"history": [record] * 10_000})
    (entry,) = library.list()
    assert entry.ok and entry.epochs == 10_000
    assert "history" not in entry.metadata  # a listing holds what it shows


def test_a_forged_created_does_not_pin_a_model_to_the_top(library: ModelLibrary) -> None:
    data = checkpoint_bytes(small_model(), {"name": "m"})
    put(library, "forged-max", edited(data, edit_metadata=lambda m: m.update(created="\uffff" * 9)),
        mtime=1_000_000)  # fmt: skip
    put(library, "forged-future",
        edited(data, edit_metadata=lambda m: m.update(created="9999-12-31T00:00:00+00:00")),
        mtime=1_000_100)  # fmt: skip
    library.save("newest", small_model(), {})
    assert [e.name for e in library.list()] == ["newest", "forged-future", "forged-max"]


def _overlapping(header: dict) -> None:
    """Two tensors of one size share a byte range: the total length still checks out."""
    (a, b) = [k for k, v in header.items() if k.endswith(".bias") and v["shape"] == [16]][:2]
    header[a]["data_offsets"] = header[b]["data_offsets"]


def _misaligned(header: dict) -> None:
    """A tensor's range one float short, its neighbour's one float long."""
    entries = sorted((v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__")
    (_, first), (_, second) = entries[0], entries[1]
    header[first]["data_offsets"][1] -= 4
    header[second]["data_offsets"][0] -= 4


def _non_string_metadata(header: dict) -> None:
    header["__metadata__"]["note"] = 1


def _nan_weights() -> bytes:
    model = small_model()
    with torch.no_grad():
        model.decoder[0].weight[0, 0] = float("nan")
    return checkpoint_bytes(model, {"name": "m"})


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: edited(checkpoint_bytes(small_model(), {}), _overlapping), id="overlap"),
        pytest.param(lambda: edited(checkpoint_bytes(small_model(), {}), _misaligned), id="misaligned"),
        pytest.param(lambda: edited(checkpoint_bytes(small_model(), {}), _non_string_metadata),
                     id="non-string-metadata"),
        pytest.param(_nan_weights, id="nan-weights"),
    ],
)  # fmt: skip
def test_a_file_listed_as_ok_loads(library: ModelLibrary, make) -> None:
    path = put(library, "corrupt", make())
    with pytest.raises(CheckpointError):
        load_checkpoint(path)  # what Load would say...
    (entry,) = library.list()
    assert not entry.ok, "listed as ok, refused only at load"  # ...the listing says first


def test_each_file_version_is_checked_once(library: ModelLibrary, monkeypatch) -> None:
    calls = []
    real = library_module.verify_checkpoint
    monkeypatch.setattr(library_module, "verify_checkpoint",
                        lambda path, **kw: calls.append(path.name) or real(path, **kw))  # fmt: skip
    library.save("a", small_model(0), {})
    library.save("b", small_model(1), {})
    for _ in range(5):
        assert [e.ok for e in library.list()] == [True, True]
    assert sorted(calls) == ["a.safetensors", "b.safetensors"]
    library.save("a", small_model(2), {}, overwrite=True)  # a new version of one file
    library.list()
    assert sorted(calls) == ["a.safetensors", "a.safetensors", "b.safetensors"]


def test_the_version_cache_remembers_refusals_and_evicts_the_oldest(tmp_path: Path) -> None:
    from vae.strict_files import FileVersion

    cache: VersionCache[int] = VersionCache(capacity=2)
    path = tmp_path / "f"
    path.write_text("x")
    versions = [FileVersion(str(path), 1, 1, size, 0) for size in range(3)]
    calls = []

    def refuse() -> int:
        calls.append(1)
        raise UnsafeFileError("no")

    for _ in range(2):
        with pytest.raises(UnsafeFileError):
            cache.get(versions[0], refuse)
    assert len(calls) == 1
    cache.get(versions[1], lambda: 1)
    cache.get(versions[2], lambda: 2)
    with pytest.raises(UnsafeFileError):
        cache.get(versions[0], refuse)  # evicted: parsed again
    assert len(calls) == 2


def test_special_files_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError, match="not a regular file"):
        open_regular(fifo, 1000)  # would block forever without O_NONBLOCK
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        open_regular(link, 1000)
    with pytest.raises(UnsafeFileError, match="not a regular file"):
        open_regular(link, 1000, follow_links=True)
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b"0," * 1000 + b"0]")
    with pytest.raises(UnsafeFileError, match="MB a file may be"):
        open_regular(big, 100)


def test_the_models_page_survives_a_surrogate_file(tmp_path: Path, monkeypatch) -> None:
    """Issue #20: one such file made the Models page an error page for every session."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(tmp_path / "models"))
    library = ModelLibrary(tmp_path / "models")
    library_module._VERIFIED.clear()
    library.save("good", small_model(), {})
    data = checkpoint_bytes(small_model(), {"name": "m"})
    document = json.loads(json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])
                          ["__metadata__"][FORMAT_KEY])  # fmt: skip
    for field in ("created", "dataset_file", "name"):
        document["metadata"][field] = "x\ud800y"
    put(library, "surrogate", edited(data, raw_metadata=json.dumps(document)))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.dataframe and sorted(at.selectbox(key="models_chosen").options) == [
        "good",
        "surrogate",
    ]

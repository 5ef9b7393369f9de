"""Checkpoints: exact round trips, and every kind of bad file refused with CheckpointError."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from tests.conftest import small_model
from vae import checkpoint_header
from vae.checkpoint import (
    FORMAT_KEY,
    CheckpointError,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from vae.config import ModelConfig
from vae.model import VAE


def write_raw(path: Path, tensors: dict[str, torch.Tensor], document: object) -> Path:
    """A safetensors file with an arbitrary document in our metadata slot."""
    text = document if isinstance(document, str) else json.dumps(document)
    path.write_bytes(st_save(tensors, metadata={FORMAT_KEY: text}))
    return path


def document_for(model: VAE, **changes) -> dict:
    doc = {
        "format": "vae-explorer",
        "format_version": 1,
        "model_config": model.config.to_dict(),
        "metadata": {"name": "m"},
    }
    doc.update(changes)
    return doc


def tensors_of(model: VAE) -> dict[str, torch.Tensor]:
    return {k: v.clone().contiguous() for k, v in model.state_dict().items()}


# --- round trips -------------------------------------------------------------------------

CONFIGS = [
    pytest.param(arch, lik, sigma, latent, id=f"{arch}-{lik}-{sigma}-z{latent}")
    for arch in ("mlp", "conv")
    for lik, sigma in (("bernoulli", None), ("gaussian", None), ("gaussian", 0.3))
    for latent in (2, 3)
]


def test_a_relu_model_round_trips_as_relu(tmp_path):
    """The 3-D page's toy models (vae/recipes.py) are ReLU MLPs: they must load as ReLU."""
    config = ModelConfig(input_dim=3, hidden=(16, 16), likelihood="gaussian", activation="relu")
    torch.manual_seed(1)
    model = VAE(config).eval()
    save_checkpoint(tmp_path / "toy.safetensors", model, {"name": "toy", "dataset": "swiss-roll"})
    loaded, _ = load_checkpoint(tmp_path / "toy.safetensors")
    assert loaded.config.activation == "relu"
    z = torch.randn(64, 2)
    assert torch.equal(loaded.decode(z), model.decode(z))


@pytest.mark.parametrize(("arch", "likelihood", "sigma", "latent"), CONFIGS)
def test_round_trip_is_exact(tmp_path, arch, likelihood, sigma, latent):
    config = ModelConfig(
        input_dim=784,
        image_shape=(28, 28),
        architecture=arch,
        hidden=(24,) if arch == "conv" else (48, 24),
        latent_dim=latent,
        likelihood=likelihood,
        gaussian_sigma=sigma,
    )
    torch.manual_seed(1)
    model = VAE(config).eval()
    if likelihood == "gaussian" and sigma is None:  # make the learned sigma non-trivial
        with torch.no_grad():
            model.log_sigma_x.uniform_(-1, 1)
    meta = {"name": "rt", "dataset": "mnist", "history": [{"epoch": 1, "test_elbo": -99.5}]}
    path = tmp_path / "rt.safetensors"
    save_checkpoint(path, model, meta)

    loaded, loaded_meta = load_checkpoint(path)
    assert loaded.config == config
    assert not loaded.training
    # Trainable as a freshly built model: real Parameters on the CPU, none left on "meta".
    assert all(p.requires_grad and p.device.type == "cpu" for p in loaded.parameters())
    assert {n for n, _ in loaded.named_parameters()} == {n for n, _ in model.named_parameters()}
    assert all(b.device.type == "cpu" for b in loaded.buffers())
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for name in original:
        assert original[name].dtype == restored[name].dtype, name
        assert torch.equal(original[name], restored[name]), name
    x = torch.rand(5, 784)
    with torch.no_grad():
        for a, b in zip(model.encode(x), loaded.encode(x), strict=True):
            assert torch.equal(a, b)
        z = torch.randn(7, latent)
        assert torch.equal(model.decode_mean(z), loaded.decode_mean(z))
    assert loaded_meta["history"] == meta["history"]
    assert loaded_meta["model_config"] == config.to_dict()
    assert read_metadata(path) == loaded_meta
    assert [p.name for p in tmp_path.iterdir()] == ["rt.safetensors"]  # no temp file left


def test_metadata_is_made_plain_json(tmp_path):
    model = small_model()
    meta = {
        "name": "m",
        "test_metrics": {"elbo": np.float32(-3.5), "nan": float("nan")},
        "t": (1, 2),
    }
    save_checkpoint(tmp_path / "m.safetensors", model, meta)
    got = read_metadata(tmp_path / "m.safetensors")
    assert got["test_metrics"] == {"elbo": -3.5, "nan": None}
    assert got["t"] == [1, 2]
    assert got["vae_version"] and got["created"]  # filled in when absent


def test_metadata_that_is_not_plain_data_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="plain JSON"):
        save_checkpoint(tmp_path / "m.safetensors", small_model(), {"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_the_whole_file(tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, small_model(hidden=(64, 32)), {"name": "big"})
    save_checkpoint(path, small_model(), {"name": "small"})
    model, meta = load_checkpoint(path)
    assert meta["name"] == "small" and model.config.hidden == (32, 16)


# --- refusals ----------------------------------------------------------------------------


class Exploit:
    """Unpickling this calls open(marker, "w"): a stand-in for os.system in a real attack."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_exploit_is_real(tmp_path):
    """Reference check: unpickling the payload does create the marker, so the tests below mean
    something when the marker does not appear."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Exploit(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_malicious_pickle_is_refused_and_never_run(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    payload = {"state_dict": Exploit(marker)}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    with pytest.raises(CheckpointError, match="not a vae-explorer checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        read_metadata(path)
    assert not marker.exists()


def test_empty_file(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)


def test_truncated_anywhere(tmp_path):
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, small_model(), {"name": "m"})
    data = good.read_bytes()
    (header_length,) = struct.unpack("<Q", data[:8])
    cut_points = [3, 8, 20, 8 + header_length - 1, 8 + header_length + 5, len(data) - 1]
    for cut in cut_points:
        path = tmp_path / "cut.safetensors"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


def test_random_bytes(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "m.safetensors"
    for size in (1, 7, 8, 100, 10_000):
        path.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


def test_absurd_header_length(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"\xff" * 8 + b"{}")
    with pytest.raises(CheckpointError, match="not a vae-explorer checkpoint"):
        load_checkpoint(path)


def test_json_garbage_and_non_object_header(tmp_path):
    path = tmp_path / "m.safetensors"
    for body in (b'{"a": ', b"[1, 2, 3]", b"\x80\x81{{", b'"just a string"'):
        path.write_bytes(struct.pack("<Q", len(body)) + body)
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


def test_plain_safetensors_without_our_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(st_save(tensors_of(small_model())))
    with pytest.raises(CheckpointError, match="no 'vae_explorer' metadata"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "wrong format name"),
        ({"format_version": 99}, "format version 99"),
        ({"metadata": [1, 2]}, "no metadata"),
        ({"model_config": {"input_dim": 64, "colour": "red"}}, "invalid model config"),
        ({"model_config": None}, "invalid model config"),
    ],
)
def test_bad_documents(tmp_path, change, message):
    model = small_model()
    path = write_raw(tmp_path / "m.safetensors", tensors_of(model), document_for(model, **change))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_document_that_is_not_json(tmp_path):
    model = small_model()
    path = write_raw(tmp_path / "m.safetensors", tensors_of(model), "{not json")
    with pytest.raises(CheckpointError, match="corrupt metadata"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "config",
    [
        {"input_dim": 64, "hidden": [10**9]},
        {"input_dim": 4096 * 4096, "hidden": [8192]},  # within each bound, too many parameters
        {"input_dim": 10**12},
        {"input_dim": 64, "latent_dim": -1},
    ],
)
def test_absurd_config_is_refused_before_allocating(tmp_path, config):
    doc = document_for(small_model(), model_config=config)
    path = write_raw(tmp_path / "m.safetensors", {"w": torch.zeros(1)}, doc)
    with pytest.raises(CheckpointError, match="invalid model config"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="invalid model config"):
        read_metadata(path)


def test_wrong_shapes(tmp_path):
    declared, actual = small_model(hidden=(32,)), small_model(hidden=(16,))
    path = write_raw(tmp_path / "m.safetensors", tensors_of(actual), document_for(declared))
    with pytest.raises(CheckpointError, match="has shape"):
        load_checkpoint(path)


def test_missing_and_unexpected_tensors(tmp_path):
    model = small_model()
    tensors = tensors_of(model)
    tensors.pop("encoder_head.bias")
    path = write_raw(tmp_path / "a.safetensors", tensors, document_for(model))
    with pytest.raises(CheckpointError, match="missing weights: encoder_head.bias"):
        load_checkpoint(path)
    tensors = {**tensors_of(model), "extra.weight": torch.zeros(2)}
    path = write_raw(tmp_path / "b.safetensors", tensors, document_for(model))
    with pytest.raises(CheckpointError, match="unexpected weights: extra.weight"):
        load_checkpoint(path)


def test_wrong_dtype(tmp_path):
    model = small_model()
    tensors = tensors_of(model)
    tensors["encoder_head.weight"] = tensors["encoder_head.weight"].double()
    path = write_raw(tmp_path / "m.safetensors", tensors, document_for(model))
    with pytest.raises(CheckpointError, match="dtype F64"):
        load_checkpoint(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights(tmp_path, bad):
    model = small_model()
    tensors = tensors_of(model)
    tensors["encoder_head.weight"][0, 0] = bad
    path = write_raw(tmp_path / "m.safetensors", tensors, document_for(model))
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(path)


def test_other_formats(tmp_path):
    npz = tmp_path / "m.npz"
    np.savez(npz, w=np.zeros(3))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.safetensors", b"hello")
    zipped = tmp_path / "m.zip"
    zipped.write_bytes(buffer.getvalue())
    text = tmp_path / "m.json"
    text.write_text(json.dumps({"format": "vae-explorer"}))
    for path in (npz, zipped, text):
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


def test_file_too_big_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, small_model(), {"name": "m"})
    monkeypatch.setattr(checkpoint_header, "MAX_CHECKPOINT_BYTES", 1000)
    with pytest.raises(CheckpointError, match="more than"):
        load_checkpoint(path)


def test_unavailable_device_is_a_clear_error(tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, small_model(), {"name": "m"})
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            load_checkpoint(path, device="cuda")
    model, _ = load_checkpoint(path, device="cpu")
    assert model.device.type == "cpu"


# --- crash safety ------------------------------------------------------------------------

# A helper process that imports torch once and then, for each delay it reads, forks a child
# that saves two different models alternately into the target until it is SIGKILLed after that
# delay. Forking from a process that has run no torch op yet is safe, and costs milliseconds.
SAVE_AND_KILL = r"""
import os, signal, sys, time
from pathlib import Path
import torch
from vae.checkpoint import save_checkpoint
from vae.config import ModelConfig
from vae.model import VAE

def crash_model(seed):
    torch.manual_seed(seed)
    return VAE(ModelConfig(input_dim=784, image_shape=(28, 28), hidden=(512, 256)))

target = Path(sys.argv[1])
for line in sys.stdin:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        models = [crash_model(0), crash_model(1)]
        os.write(write_end, b"1")
        i = 0
        while True:
            save_checkpoint(target, models[i % 2], {"name": "target", "seed": i % 2, "i": i})
            i += 1
    os.close(write_end)
    os.read(read_end, 1)  # the child's models are built: the saving starts now
    os.close(read_end)
    time.sleep(float(line))
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    print(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, flush=True)
"""


def _crash_model(seed: int) -> VAE:
    """The helper's models: ~1.2 M parameters (4.5 MB), so kills often land mid-write."""
    torch.manual_seed(seed)
    return VAE(ModelConfig(input_dim=784, image_shape=(28, 28), hidden=(512, 256)))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigkill_during_saves_never_leaves_a_partial_checkpoint(tmp_path):
    import random
    import subprocess
    import sys

    from vae.library import ModelLibrary

    root = Path(__file__).resolve().parents[1]
    target = tmp_path / "target.safetensors"
    helper = subprocess.Popen(
        [sys.executable, "-c", SAVE_AND_KILL, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    expected = {seed: _crash_model(seed).state_dict() for seed in (0, 1)}
    library = ModelLibrary(tmp_path)
    rng = random.Random(0)
    loaded_count = 0
    try:
        for _ in range(30):
            helper.stdin.write(f"{rng.uniform(0.0, 0.4)}\n")  # one save takes ~0.1 s here
            helper.stdin.flush()
            assert helper.stdout.readline().strip() == "True"  # the child died by SIGKILL
            if target.exists():
                model, meta = load_checkpoint(target)  # raises if partial or corrupt
                weights = model.state_dict()
                # Header and tensors come from the same save: never old metadata + new data.
                for name, tensor in expected[meta["seed"]].items():
                    assert torch.equal(weights[name], tensor), name
                loaded_count += 1
            entries = library.list()
            assert [e.name for e in entries] == (["target"] if target.exists() else [])
            assert all(e.ok for e in entries), [e.error for e in entries]
    finally:
        helper.stdin.close()
        helper.wait(timeout=60)
    assert loaded_count > 0  # some saves completed, so the checks above did run


def test_huge_in_bounds_config_is_checked_before_allocating(tmp_path):
    """A tiny file whose config is legal but huge (~166 M parameters) is refused for its
    missing weights: shapes are compared on the meta device, the model is never allocated."""
    import resource

    config = {"input_dim": 4096, "hidden": [8192, 6000]}
    path = write_raw(tmp_path / "m.safetensors", {"w": torch.zeros(1)},
                     document_for(small_model(), model_config=config))  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(CheckpointError, match="missing weights"):
        load_checkpoint(path)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 300  # building it would take ~650 MB of float32 weights


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"test_metrics": [1, 2]}, "'test_metrics' must be a mapping"),
        ({"history": 5}, "'history' must be a list"),
        ({"history": [{"epoch": "one"}]}, "history entry 'epoch' must be a number"),
        ({"name": 7}, "'name' must be text"),
    ],
)
def test_standard_metadata_keys_must_have_their_types(tmp_path, metadata, message):
    model = small_model()
    doc = document_for(model, metadata=metadata)
    path = write_raw(tmp_path / "m.safetensors", tensors_of(model), doc)
    with pytest.raises(CheckpointError, match=message):
        read_metadata(path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
def test_saved_files_are_readable_by_other_users(tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, small_model(), {})
    assert path.stat().st_mode & 0o777 == 0o644


def test_read_metadata_checks_what_the_header_can_tell(tmp_path):
    """A header-only read already refuses truncated files, extra bytes and wrong shapes, so a
    library listing marks them broken without reading any weights."""
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, small_model(), {"name": "m"})
    data = good.read_bytes()
    cases = {
        "cut": data[:-10],
        "long": data + b"\0" * 16,
        "shapes": st_save(tensors_of(small_model(hidden=(32, 8))),
                          metadata={FORMAT_KEY: json.dumps(document_for(small_model()))}),
    }  # fmt: skip
    messages = {"cut": "truncated", "long": "extra bytes", "shapes": "has shape"}
    for name, content in cases.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match=messages[name]):
            read_metadata(path)
        with pytest.raises(CheckpointError):
            load_checkpoint(path)

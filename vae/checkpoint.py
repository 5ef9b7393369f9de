"""Checkpoints: safetensors weights plus one JSON document of plain data. Never pickle.

File layout (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length n,
n bytes of JSON header, then raw tensor bytes. The header's `__metadata__` string map carries
one key, FORMAT_KEY, whose value is a JSON document:

    {"format": "vae-explorer", "format_version": 1, "model_config": {...}, "metadata": {...}}

Loading never executes anything from the file: the header is parsed by hand under a size cap,
the config is validated (absurd sizes refused) before any tensor is allocated, and every tensor
is checked against the rebuilt model's state_dict by name, shape, dtype and finiteness.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

from .checkpoint_header import (
    FOREIGN_TENSORS,
    FORMAT_KEY,
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_CHECKPOINT_BYTES,
    SUFFIX,
    CheckpointError,
    check_declared_size,
    check_foreign_entries,
    header_length,
    open_checked,
    parse_document,
    read_header,
    upload_memory,
)
from .device import pick_device
from .foreign.card import parse_card
from .metadata_check import MetadataError, validate_metadata
from .model import VAE
from .version import __version__

# safetensors dtype codes of the dtypes a VAE state_dict can hold.
_DTYPE_CODES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.bool: "BOOL",
    torch.uint8: "U8",
}


def _plain(value: Any, where: str = "metadata") -> Any:
    """Convert to strict JSON data: tuples -> lists, numpy scalars -> floats, NaN/inf -> None."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CheckpointError(f"{where} keys must be strings, got {key!r}")
            out[key] = _plain(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, where) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalar
        return _plain(value.item(), where)
    raise CheckpointError(f"{where} must hold plain JSON data, got a {type(value).__name__}")


def save_checkpoint(
    path: str | os.PathLike, model: VAE, metadata: dict[str, Any], overwrite: bool = True
) -> None:
    """Write `model` and `metadata` to `path` atomically: readers see the old file or the new one.

    The bytes go to a hidden temp file in the same folder, are fsynced, then os.replace()d over
    the destination (atomic on POSIX and Windows), and the folder itself is fsynced. With
    overwrite False an existing `path` is kept and CheckpointError raised, decided atomically
    at the rename (another process may have saved there since the caller last looked).
    """
    path = Path(path)
    write_atomic(path, checkpoint_bytes(model, metadata), overwrite)


def checkpoint_bytes(model: VAE, metadata: dict[str, Any]) -> bytes:
    """The complete file contents for `model` and `metadata`."""
    if not isinstance(metadata, dict):
        raise CheckpointError(f"metadata must be a dict, got {type(metadata).__name__}")
    meta = _plain({k: v for k, v in metadata.items() if k != "model_config"})
    meta.setdefault("vae_version", __version__)
    meta.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    try:  # never write a file that load would refuse
        validate_metadata(meta)
    except MetadataError as error:
        raise CheckpointError(f"cannot save this metadata: {error}") from None
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "metadata": meta,
    }
    foreign = getattr(model, "onnx_bytes", None)
    if foreign is not None:
        document["foreign"] = model.card.to_dict()
        tensors = {name: torch.frombuffer(bytearray(data), dtype=torch.uint8)
                   for name, data in zip(FOREIGN_TENSORS, foreign, strict=True)}  # fmt: skip
        return _st_save(tensors, metadata={FORMAT_KEY: json.dumps(document, allow_nan=False)})
    # Own contiguous CPU copies: safetensors refuses shared or strided storage.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    return _st_save(tensors, metadata={FORMAT_KEY: json.dumps(document, allow_nan=False)})


def write_atomic(path: Path, data: bytes, overwrite: bool = True) -> None:
    """Write bytes via temp file + fsync + os.replace; a crash never leaves a partial `path`."""
    temp = write_temp(path.parent, data)
    try:
        if overwrite:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if `path` exists: create-only, atomically
            remove_quietly(temp)
    except FileExistsError:
        remove_quietly(temp)
        raise CheckpointError(f"{path} already exists; pass --force to replace it") from None
    except OSError as error:
        remove_quietly(temp)
        raise CheckpointError(f"cannot write {path}: {error.strerror or error}") from None
    fsync_dir(path.parent)


def write_temp(folder: Path, data: bytes) -> Path:
    """A fully written, fsynced hidden temp file in `folder` (same filesystem as the target).

    The name starts with '.' and ends with '.tmp', so folder listings that look for
    '*.safetensors' never see a half-written file.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # The writer's pid in the name lets ModelLibrary tell a killed save's leftover.
        fd, name = tempfile.mkstemp(prefix=f".incoming-{os.getpid()}-", suffix=".tmp", dir=folder)
    except OSError as error:
        raise CheckpointError(f"cannot write into {folder}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600; a model folder is shared (app, CLI)
                os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        remove_quietly(Path(name))
        raise CheckpointError(f"cannot write into {folder}: {error.strerror or error}") from None
    return Path(name)


def fsync_dir(folder: Path) -> None:
    """Make a rename durable; not possible (nor needed) on every platform."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def remove_quietly(path: Path) -> None:
    """Delete `path` if it can be: cleaning up after a failed write must not raise."""
    with contextlib.suppress(OSError):
        path.unlink()


def read_metadata(path: str | os.PathLike, follow_links: bool = True) -> dict[str, Any]:
    """The metadata (with model_config) from the header only; no weights are read.

    The header is checked as far as it can be without the weights: the config is valid, the
    tensors it declares are exactly the model's (names, shapes, dtypes), and the file is as
    long as they say - so a model listed as fine is one that loads, short of corrupt values.
    """
    path = Path(path)
    handle, size = open_checked(path, follow_links)
    with handle:
        return _checked_header(handle, size, path.name)[1]


def read_checkpoint_bytes(path: str | os.PathLike, follow_links: bool = False) -> bytes:
    """The bytes of a checkpoint whose header checks out, read once: what a download serves.

    The header is validated in the very bytes returned, so a file swapped after the check
    (or a link pointing elsewhere) cannot be served in its place.
    """
    path = Path(path)
    handle, size = open_checked(path, follow_links)
    with handle:
        data = handle.read(size)
    _checked_header(io.BytesIO(data), len(data), path.name)
    return data


def verify_checkpoint(path: str | os.PathLike, follow_links: bool = False) -> dict[str, Any]:
    """The metadata of a checkpoint that load_checkpoint() would accept, or CheckpointError.

    What a listing shows as "ok" must load: besides the header (read_metadata's checks), the
    tensors are read by the same safetensors parser as load_checkpoint (byte ranges that
    overlap, leave gaps or do not match shape × dtype are refused) and every weight is checked
    to be finite, one tensor at a time. The file is read through the descriptor already opened
    (and checked) where the platform names it, so it cannot be swapped in between.
    """
    path = Path(path)
    handle, size = open_checked(path, follow_links)
    with handle:
        _, metadata = _checked_header(handle, size, path.name)
        opened = Path(f"/proc/self/fd/{handle.fileno()}")
        source = opened if opened.exists() else path
        try:
            with safe_open(str(source), framework="pt") as tensors:
                for name in tensors.keys():  # noqa: SIM118 - safe_open is not a mapping
                    tensor = tensors.get_tensor(name)  # one at a time: the memory of one
                    _check_finite(tensor, name, path.name)
                    if name in FOREIGN_TENSORS and "foreign" in metadata:
                        # an imported model's graphs get load's static checks (ForeignVAE's)
                        _check_foreign_graph(tensor, name, path.name)
        except (SafetensorError, ValueError, RuntimeError, OSError) as error:
            if isinstance(error, CheckpointError):
                raise
            raise CheckpointError(f"{path.name} is corrupt or truncated: {error}") from None
    return metadata


def _check_foreign_graph(tensor: torch.Tensor, name: str, label: str) -> None:
    """An imported model's graph passes the static checks every load makes (operators,
    opsets, tensors kept inside): a file copied in by hand with a forbidden operator is
    listed as broken, not listed as ok and refused only at load."""
    from .foreign.graph import GraphError, parse_graph

    role = "encoder" if name == FOREIGN_TENSORS[0] else "decoder"
    try:
        parse_graph(tensor.numpy().tobytes(), role)
    except GraphError as error:
        raise CheckpointError(f"{label} holds a graph this app does not run: {error}") from None


def _check_finite(tensor: torch.Tensor, name: str, label: str) -> None:
    """A NaN or inf anywhere makes the sum non-finite: a cheap first test, exact second."""
    if (
        tensor.is_floating_point()
        and not torch.isfinite(tensor.sum())
        and not torch.isfinite(tensor).all()
    ):
        raise CheckpointError(f"{label}: {name} holds NaN or infinite values")


def _checked_header(handle: Any, size: int, label: str) -> tuple[VAE | None, dict[str, Any]]:
    """(model skeleton on the meta device, validated metadata) from a checked header; no
    skeleton for a foreign model (its graphs are checked when loaded)."""
    header, length = read_header(handle, size, label)
    config, metadata = parse_document(header, label)
    if "foreign" in metadata:
        skeleton = None
        check_foreign_entries(header, label)
    else:
        with torch.device("meta"):  # shapes only, no memory
            skeleton = VAE(config)
        _check_tensor_entries(header, skeleton, label)
    check_declared_size(header, 8 + length, size, label)
    return skeleton, metadata


def _check_tensor_entries(header: dict[str, Any], model: VAE, label: str) -> None:
    """Names, shapes and dtypes declared in the header must match the model exactly."""
    expected = model.state_dict()
    declared = {k: v for k, v in header.items() if k != "__metadata__"}
    missing = sorted(set(expected) - set(declared))
    unexpected = sorted(set(declared) - set(expected))
    if missing:
        raise CheckpointError(f"{label} is missing weights: {', '.join(missing[:5])}")
    if unexpected:
        raise CheckpointError(f"{label} has unexpected weights: {', '.join(unexpected[:5])}")
    for name, tensor in expected.items():
        entry = declared[name]
        if not isinstance(entry, dict):
            raise CheckpointError(f"{label}: the entry for {name} is malformed")
        shape = entry.get("shape")
        if shape != list(tensor.shape):
            raise CheckpointError(
                f"{label}: {name} has shape {shape}, the model needs {list(tensor.shape)}"
            )
        dtype = entry.get("dtype")
        if dtype != _DTYPE_CODES.get(tensor.dtype):
            raise CheckpointError(
                f"{label}: {name} has dtype {dtype}, the model needs "
                f"{_DTYPE_CODES.get(tensor.dtype, tensor.dtype)}"
            )


def load_checkpoint(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    follow_links: bool = True,
    label: str | None = None,
) -> tuple[VAE, dict]:
    """Rebuild the VAE from a checkpoint: the one place in the project that does so.

    Returns (model in eval mode on `device`, metadata). Anything wrong with the file raises
    CheckpointError with a sentence saying what (naming the file `label`, its name by default).
    """
    path = Path(path)
    label = label or path.name
    target = pick_device(device) if isinstance(device, str) else device  # ValueError if absent
    skeleton, metadata, tensors = _read_tensors(path, follow_links, label)
    if skeleton is None:
        return _load_foreign(tensors, metadata, label), metadata
    return _assemble(skeleton, tensors, label).to(target).eval(), metadata


def _read_tensors(
    path: Path, follow_links: bool, label: str
) -> tuple[VAE | None, dict[str, Any], dict[str, torch.Tensor]]:
    """(meta-device skeleton or None for a foreign model, metadata, the file's tensors)."""
    handle, size = open_checked(path, follow_links)
    with handle:
        # Shapes only, on the meta device: a tiny file whose config asks for a huge (but
        # in-bounds) model must not make the server allocate it before the file is checked.
        skeleton, metadata = _checked_header(handle, size, label)
        handle.seek(0)
        data = handle.read(size)  # the size checked above, even if the file grew meanwhile
    try:
        return skeleton, metadata, _st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{label} is corrupt or truncated: {error}") from None


def _assemble(skeleton: VAE, tensors: dict[str, torch.Tensor], label: str) -> VAE:
    """The skeleton holding the file's tensors, once each is finite."""
    for name, tensor in tensors.items():
        _check_finite(tensor, name, label)
    # The skeleton takes the file's tensors as they are (assign=True): no second copy and no
    # random initialisation that would be overwritten; the file's size bounds the memory.
    try:
        skeleton.load_state_dict(tensors, strict=True, assign=True)
    except RuntimeError as error:
        raise CheckpointError(f"{label} does not fit the model: {error}") from None
    return skeleton


def revalidate_upload(
    path: str | os.PathLike, name: str, label: str = "the uploaded file"
) -> bytes | dict[str, bytes]:
    """An uploaded checkpoint after every check load_checkpoint makes, as this app writes it:
    a native model's file re-serialised from the validated weights and metadata (named
    `name`), or an imported model's {"encoder", "decoder", "card"} bytes (the card from the
    validated metadata), whose graphs the ONNX checks (vae.foreign.probe) judge next.

    Runs in the upload sandbox's child (runner/sandbox.py): no byte of the upload is decoded
    in the server, which gets back only this result. CheckpointError for anything wrong.
    """
    skeleton, metadata, tensors = _read_tensors(Path(path), True, label)
    if skeleton is None:
        encoder, decoder = (tensors[key].numpy().tobytes() for key in FOREIGN_TENSORS)
        card = json.dumps(metadata["foreign"]).encode()
        return {"encoder": encoder, "decoder": decoder, "card": card}
    model = _assemble(skeleton, tensors, label)
    del tensors  # the model holds them: checkpoint_bytes' clones are the only copy made
    return checkpoint_bytes(model, {**metadata, "name": name})


def _load_foreign(tensors: dict[str, torch.Tensor], metadata: dict[str, Any], label: str):
    from .data import DATASET_NAMES
    from .foreign.graph import GraphError
    from .foreign.model import ForeignVAE

    card = parse_card(metadata["foreign"], DATASET_NAMES)
    encoder, decoder = (tensors[name].numpy().tobytes() for name in FOREIGN_TENSORS)
    try:
        return ForeignVAE(encoder, decoder, card)
    except GraphError as error:
        raise CheckpointError(f"{label} holds a graph this app does not run: {error}") from None


__all__ = [
    "FORMAT_KEY",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SUFFIX",
    "MAX_CHECKPOINT_BYTES",
    "CheckpointError",
    "checkpoint_bytes",
    "header_length",
    "load_checkpoint",
    "read_checkpoint_bytes",
    "read_metadata",
    "revalidate_upload",
    "save_checkpoint",
    "upload_memory",
    "verify_checkpoint",
]

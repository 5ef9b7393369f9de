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
import struct
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

from .config import ConfigError, ModelConfig
from .device import pick_device
from .foreign.card import CardError, parse_card
from .metadata_check import MetadataError, parse_json, quoted, validate_metadata
from .model import VAE
from .strict_files import UnsafeFileError, open_regular
from .version import __version__

FORMAT_NAME = "vae-explorer"
FORMAT_VERSION = 1
FORMAT_KEY = "vae_explorer"
SUFFIX = ".safetensors"
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024  # far above our largest model (~5 MB), far below RAM
MAX_HEADER_BYTES = 16 * 1024 * 1024  # JSON header incl. a long history; safetensors caps at 100 MB

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
FOREIGN_TENSORS = ("onnx.encoder", "onnx.decoder")


class CheckpointError(ValueError):
    """A checkpoint cannot be written, or a file is not a valid vae-explorer checkpoint."""


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


def _open_checked(path: Path, follow_links: bool = True) -> tuple[Any, int]:
    """Open `path` for reading: (handle, size) after vae.strict_files.open_regular's checks (a
    regular file within the size cap, opened without blocking; without following a link when
    `follow_links` is False)."""
    try:
        handle, info = open_regular(
            path, MAX_CHECKPOINT_BYTES, follow_links=follow_links, what="checkpoint file"
        )
    except UnsafeFileError as error:
        raise CheckpointError(
            str(error).replace("no checkpoint file at", "no checkpoint at")
        ) from None
    return handle, info.st_size


def _read_header(handle: Any, size: int, label: str) -> tuple[dict[str, Any], int]:
    """Parse the safetensors header by hand, under a size cap: (header dict, header length)."""
    not_safetensors = f"{label} is not a vae-explorer checkpoint (not a safetensors file)"
    prefix = handle.read(8)
    if len(prefix) < 8:
        raise CheckpointError(f"{label} is truncated or not a checkpoint ({size} bytes)")
    (length,) = struct.unpack("<Q", prefix)
    if 8 + length > size:
        # A pickle, a zip or random bytes read as a length give an absurd number; a plausible
        # one that runs past the end is a file cut short.
        raise CheckpointError(
            not_safetensors if length > MAX_HEADER_BYTES else f"{label} is truncated"
        )
    if length > MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{label} has a {length / 2**20:.0f} MB header, more than the "
            f"{MAX_HEADER_BYTES // 2**20} MB a checkpoint's header may be"
        )
    raw = handle.read(length)
    if len(raw) < length:
        raise CheckpointError(f"{label} is truncated")
    if not raw.lstrip().startswith(b"{"):
        raise CheckpointError(not_safetensors)
    try:
        header = parse_json(raw, f"the header of {label}")
    except MetadataError as error:
        raise CheckpointError(f"{label} has a corrupt header ({error})") from None
    if not isinstance(header, dict):
        raise CheckpointError(not_safetensors)
    return header, length


def _parse_document(header: dict[str, Any], label: str) -> tuple[ModelConfig, dict[str, Any]]:
    """Validate our JSON document inside the header: (config, metadata incl. model_config).

    The metadata returned is validate_metadata()'s: the only form pages and the CLI ever see.
    A foreign model's metadata has its card under "foreign" (the document's, not whatever the
    metadata itself says) and a config derived from the card.
    """
    strings = header.get("__metadata__")
    if not isinstance(strings, dict) or not isinstance(strings.get(FORMAT_KEY), str):
        raise CheckpointError(
            f"{label} is a safetensors file but not a vae-explorer checkpoint "
            f"(no '{FORMAT_KEY}' metadata)"
        )
    if not all(isinstance(value, str) for value in strings.values()):
        # safetensors reads __metadata__ as a map of strings and refuses the file otherwise
        raise CheckpointError(f"{label} has a corrupt header (__metadata__ holds a non-string)")
    try:
        document = parse_json(strings[FORMAT_KEY], "the metadata")
    except MetadataError as error:
        raise CheckpointError(f"{label} has corrupt metadata ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{label} is not a vae-explorer checkpoint (wrong format name)")
    version = document.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise CheckpointError(
            f"{label} has checkpoint format version {quoted(version)}; this vae-explorer reads "
            f"version {FORMAT_VERSION} (update vae-explorer or re-train the model)"
        )
    if not isinstance(document.get("metadata"), dict):
        raise CheckpointError(f"{label} has no metadata mapping")
    try:
        config = ModelConfig.from_dict(document.get("model_config"))
    except ConfigError as error:
        # The error quotes the value, which a hostile file can make megabytes long.
        reason = str(error) if len(str(error)) <= 200 else f"{str(error)[:200]}…"
        raise CheckpointError(f"{label} has an invalid model config: {reason}") from None
    try:
        metadata = validate_metadata(document["metadata"])
    except MetadataError as error:
        raise CheckpointError(f"{label} has invalid metadata: {error}") from None
    metadata.pop("foreign", None)
    if "foreign" in document:
        card = _foreign_card(document["foreign"], label)
        config = card.model_config()
        metadata["foreign"] = card.to_dict()
    return config, {**metadata, "model_config": config.to_dict()}


def _foreign_card(raw: Any, label: str):
    from .data import DATASET_NAMES

    try:
        return parse_card(raw, DATASET_NAMES)
    except CardError as error:
        raise CheckpointError(
            f"{label} is an imported model with an invalid card: {error}"
        ) from None


def read_metadata(path: str | os.PathLike, follow_links: bool = True) -> dict[str, Any]:
    """The metadata (with model_config) from the header only; no weights are read.

    The header is checked as far as it can be without the weights: the config is valid, the
    tensors it declares are exactly the model's (names, shapes, dtypes), and the file is as
    long as they say - so a model listed as fine is one that loads, short of corrupt values.
    """
    path = Path(path)
    handle, size = _open_checked(path, follow_links)
    with handle:
        return _checked_header(handle, size, path.name)[1]


def read_checkpoint_bytes(path: str | os.PathLike, follow_links: bool = False) -> bytes:
    """The bytes of a checkpoint whose header checks out, read once: what a download serves.

    The header is validated in the very bytes returned, so a file swapped after the check
    (or a link pointing elsewhere) cannot be served in its place.
    """
    path = Path(path)
    handle, size = _open_checked(path, follow_links)
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
    handle, size = _open_checked(path, follow_links)
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
    header, length = _read_header(handle, size, label)
    config, metadata = _parse_document(header, label)
    if "foreign" in metadata:
        skeleton = None
        _check_foreign_entries(header, label)
    else:
        with torch.device("meta"):  # shapes only, no memory
            skeleton = VAE(config)
        _check_tensor_entries(header, skeleton, label)
    _check_declared_size(header, 8 + length, size, label)
    return skeleton, metadata


def _check_foreign_entries(header: dict[str, Any], label: str) -> None:
    """A foreign model holds its two graphs as 1-D uint8 tensors, nothing else."""
    declared = {k: v for k, v in header.items() if k != "__metadata__"}
    if sorted(declared) != sorted(FOREIGN_TENSORS):
        raise CheckpointError(
            f"{label} is an imported model but holds {', '.join(sorted(declared)[:5]) or 'no'} "
            f"tensors instead of {' and '.join(FOREIGN_TENSORS)}"
        )
    for name, entry in declared.items():
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or entry.get("dtype") != "U8"
            or not (isinstance(shape, list) and len(shape) == 1)
        ):
            raise CheckpointError(f"{label}: {name} must be the bytes of an ONNX graph")


def _check_declared_size(header: dict[str, Any], data_start: int, size: int, label: str) -> None:
    """The tensors' byte ranges must end exactly at the end of the file (safetensors' rule)."""
    ends = []
    for name, entry in header.items():
        offsets = entry.get("data_offsets") if name != "__metadata__" else [0, 0]
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise CheckpointError(f"{label}: the entry for {name} is malformed")
        ends.append(offsets[1])
    if data_start + max(ends, default=0) != size:
        raise CheckpointError(f"{label} is truncated or has extra bytes at the end")


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
    handle, size = _open_checked(path, follow_links)
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


def upload_memory(size: int, header_length: int) -> int:
    """Bytes that revalidate_upload() allocates for a file of `size` bytes whose header is
    `header_length` bytes, an upper bound from what the code makes, not from the input alone.

    The header: its bytes, the string-blanked copy the value count makes, the decoded text
    (up to 4 bytes a character) and, once more, the metadata document inside it, plus the
    objects of at most MAX_VALUES values: 20 header lengths and 32 MB. The tensors: the
    file's bytes and the tensors made from them, then the model's clones and the bytes
    written from them: 3 file sizes at once at most (the bytes are freed before the
    clones). 64 MB for the interpreter's and torch's small allocations besides.
    """
    return 20 * header_length + 32 * 2**20 + 3 * size + 64 * 2**20


def header_length(path: str | os.PathLike) -> int:
    """The most header bytes the reader will read of a checkpoint file: what its first 8 bytes
    declare (0 when there are fewer), within MAX_HEADER_BYTES and the file (a longer header is
    refused before a byte of it is read); what upload_memory() needs before the header."""
    handle, size = _open_checked(Path(path))
    with handle:
        prefix = handle.read(8)
    declared = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else 0
    return min(declared, MAX_HEADER_BYTES, size)


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

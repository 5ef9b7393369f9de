"""A checkpoint's header, checked without torch: what the upload sandbox's child runs before it
imports torch (2-4 s of CPU, over a minute of wall clock on a loaded machine), so that a file
that is no checkpoint at all is refused at once; vae/checkpoint.py checks the rest (the tensors
against the model, the weights) and holds the format's description.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from .config import ConfigError, ModelConfig
from .foreign.card import CardError, parse_card
from .metadata_check import MetadataError, parse_json, quoted, validate_metadata
from .strict_files import UnsafeFileError, open_regular

FORMAT_NAME = "vae-explorer"
FORMAT_VERSION = 1
FORMAT_KEY = "vae_explorer"
SUFFIX = ".safetensors"
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024  # far above our largest model (~5 MB), far below RAM
MAX_HEADER_BYTES = 16 * 1024 * 1024  # JSON header incl. a long history; safetensors caps at 100 MB
FOREIGN_TENSORS = ("onnx.encoder", "onnx.decoder")


class CheckpointError(ValueError):
    """A checkpoint cannot be written, or a file is not a valid vae-explorer checkpoint."""


def open_checked(path: Path, follow_links: bool = True) -> tuple[Any, int]:
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


def read_header(handle: Any, size: int, label: str) -> tuple[dict[str, Any], int]:
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


def parse_document(header: dict[str, Any], label: str) -> tuple[ModelConfig, dict[str, Any]]:
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


def check_foreign_entries(header: dict[str, Any], label: str) -> None:
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


def check_declared_size(header: dict[str, Any], data_start: int, size: int, label: str) -> None:
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
    handle, size = open_checked(Path(path))
    with handle:
        prefix = handle.read(8)
    declared = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else 0
    return min(declared, MAX_HEADER_BYTES, size)


def check_header(path: str | os.PathLike, label: str) -> None:
    """Every check of the file that needs no torch: a regular file within the size cap, the
    header (size, JSON, values, Unicode, depth), the document (format, version, config,
    metadata, an imported model's card and entries) and the byte ranges' end. CheckpointError
    saying what is wrong."""
    handle, size = open_checked(Path(path))
    with handle:
        header, length = read_header(handle, size, label)
    _, metadata = parse_document(header, label)
    if "foreign" in metadata:
        check_foreign_entries(header, label)
    check_declared_size(header, 8 + length, size, label)

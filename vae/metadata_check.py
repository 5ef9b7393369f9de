"""Checkpoint metadata checked once, at load: types, ranges, sizes and depth.

A checkpoint's metadata is shown on every page and by the CLI, and one file may be read by
every session of a classroom server; so whatever a file says is validated here, and callers
see only the normalised result. Missing or `null` mappings become empty ones, so a page can
always call `.get` on them. Every refusal quotes at most QUOTE_CHARS of the offending value.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .config import TrainConfig
from .strict_files import check_text, strict_json

MAX_TEXT_CHARS = 1_000  # one string value (a file name, a date, a device label)
MAX_KEY_CHARS = 64  # one key of any mapping
MAX_ITEMS = 256  # entries of one mapping or list (history excepted)
MAX_HISTORY = 10_000  # one entry per epoch: TrainConfig allows at most 10,000 epochs
MAX_DEPTH = 6  # nesting of mappings and lists below the metadata itself
# Losses and metrics are a few hundred nats, times a few hundred thousand rows at most;
# anything beyond this is no measurement, and would overflow the float32 of a table.
MAX_MAGNITUDE = 1e15
MAX_INTEGER = 2**53  # the largest integer a JavaScript number (the browser) holds exactly
QUOTE_CHARS = 60
# Every number, text, null, list and mapping of the document counts as one value. A real
# history is about 12 values per epoch (10,000 epochs at most); 7 M zeros also fit in the
# 16 MB header, and took every listing 2-3 s per file to parse and walk.
MAX_VALUES = 250_000
MAX_HEADER_TEXT = 16 * 1024 * 1024  # the header holds the metadata document as one string

TEXT_FIELDS = ("name", "dataset", "dataset_file", "dataset_source", "data_file", "vae_version",
               "created", "device")  # fmt: skip
MAPPING_FIELDS = ("preprocessing", "train_config", "test_metrics")
_TRAIN_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(TrainConfig)}


class MetadataError(ValueError):
    """The metadata of a checkpoint is malformed; the message says which key and why."""


def quoted(value: Any, limit: int = QUOTE_CHARS) -> str:
    """repr(value), cut to `limit` characters: a hostile value can be megabytes long."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'} of {len(value):,} items"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def parse_json(text: str | bytes, what: str, max_text: int = MAX_HEADER_TEXT) -> Any:
    """vae.strict_files.strict_json for a checkpoint's JSON, every refusal a MetadataError: at
    most MAX_VALUES values in all (counted before anything is built), no NaN/Infinity, valid
    Unicode, and nesting within the metadata's depth (a document nested 100k deep is caught at
    the parse: RecursionError never escapes). Long lists are refused by their lengths too, so
    that a message can say which list."""
    value = strict_json(text, what, max_values=MAX_VALUES, max_depth=MAX_DEPTH + 3,
                        max_text=max_text, error=MetadataError)  # fmt: skip
    _check_lengths(value, what)
    return value


def _check_lengths(document: Any, what: str) -> None:
    """The mappings and lists of the top three levels are within their item limits (O(1) each):
    a 900k-entry history is refused before anything walks it."""
    level = [document]
    for _ in range(3):
        below = []
        for item in level:
            if isinstance(item, (dict, list)):
                limit = MAX_HISTORY if isinstance(item, list) else MAX_ITEMS
                if len(item) > limit:
                    kind = "list" if isinstance(item, list) else "mapping"
                    raise MetadataError(
                        f"{what} has a {kind} of {len(item):,} items; at most {limit:,}"
                    )
                below.extend(item.values() if isinstance(item, dict) else item)
        level = below


def validate_metadata(raw: Any) -> dict[str, Any]:
    """The metadata as pages and the CLI may use it, or MetadataError saying what is wrong."""
    if not isinstance(raw, dict):
        raise MetadataError(f"the metadata must be a mapping, not {_kind(raw)}")
    history = raw.get("history")
    if isinstance(history, list) and len(history) > MAX_HISTORY:
        raise MetadataError(
            f"'history' has {len(history):,} entries; at most {MAX_HISTORY:,} (one per epoch)"
        )
    _check_plain(raw, "metadata", 0)
    metadata = dict(raw)
    for key in TEXT_FIELDS:
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            raise MetadataError(f"'{key}' must be text, not {_kind(value)}")
    for key in MAPPING_FIELDS:
        value = metadata.get(key)
        if value is None:
            metadata[key] = {}
        elif not isinstance(value, dict):
            raise MetadataError(f"'{key}' must be a mapping, not {_kind(value)}")
    history = metadata.get("history")
    if history is None:
        metadata["history"] = []
    elif not isinstance(history, list):
        raise MetadataError(f"'history' must be a list, not {_kind(history)}")
    elif len(history) > MAX_HISTORY:
        raise MetadataError(
            f"'history' has {len(history):,} entries; at most {MAX_HISTORY:,} (one per epoch)"
        )
    for record in metadata["history"]:
        if not isinstance(record, dict):
            raise MetadataError("each 'history' entry must map names to numbers")
        for name, value in record.items():
            _check_measurement(value, f"history entry '{name}'")
    for name, value in metadata["test_metrics"].items():
        _check_measurement(value, f"test_metrics '{name}'")
    _check_train_config(metadata["train_config"])
    return metadata


def _check_plain(value: Any, where: str, depth: int) -> None:
    """Plain JSON data within the size, depth and range limits."""
    if depth > MAX_DEPTH:
        raise MetadataError(f"{where} is nested too deeply (more than {MAX_DEPTH} levels)")
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise MetadataError(
                f"{where} is {len(value):,} characters long; at most {MAX_TEXT_CHARS:,}"
            )
        check_text(value, where, MAX_TEXT_CHARS, MetadataError)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if abs(value) > MAX_INTEGER:
            raise MetadataError(f"{where} is {quoted(value)}, too large to be a count")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise MetadataError(f"{where} is not a finite number")
    elif isinstance(value, (dict, list)):
        limit = MAX_HISTORY if where == "metadata.history" else MAX_ITEMS
        if len(value) > limit:
            raise MetadataError(f"{where} has {len(value):,} items; at most {limit:,}")
        if isinstance(value, dict):
            for key, item in value.items():
                if len(key) > MAX_KEY_CHARS:
                    raise MetadataError(f"{where} has a key of {len(key):,} characters")
                check_text(key, f"a key of {where}", MAX_KEY_CHARS, MetadataError)
                _check_plain(item, f"{where}.{key}", depth + 1)
        else:
            for item in value:
                _check_plain(item, where, depth + 1)
    else:  # json.loads makes nothing else; reached only by a caller's own dict
        raise MetadataError(f"{where} must hold plain JSON data, not {_kind(value)}")


def _check_measurement(value: Any, where: str) -> None:
    """A loss or metric: a finite number of sane magnitude, or null (not measured)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MetadataError(f"{where} must be a number, not {_kind(value)}")
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise MetadataError(f"{where} is {quoted(value)}, not a plausible measurement")


def _check_train_config(train_config: dict[str, Any]) -> None:
    """The keys TrainConfig knows must have its types (pages format them as such)."""
    for key, value in train_config.items():
        kind = _TRAIN_FIELD_TYPES.get(key)
        if kind is None or value is None:
            continue
        if "bool" in kind:
            ok = isinstance(value, bool)
        elif "int" in kind or "float" in kind:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and abs(value) <= MAX_MAGNITUDE
        else:
            ok = isinstance(value, str)
        if not ok:
            raise MetadataError(f"train_config '{key}' is {quoted(value)}, not a {kind}")


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


__all__ = ["MetadataError", "parse_json", "quoted", "validate_metadata"]

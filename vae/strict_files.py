"""The one strict reader of the files the app reads: checkpoints, dataset files, scenes, cards.

Every file from the model library or a data folder may have been copied there by anyone, so
each is read the same way (docs/SECURITY.md, rule 2):

- `open_regular` opens a regular file only, without following a link (O_NOFOLLOW, checked by
  the very call that opens) and without blocking (O_NONBLOCK: a FIFO cannot hang the reader),
  then checks the open file with fstat: a regular file within the size cap.
- `strict_json` parses JSON text under a cap on the **total number of values** (counted on the
  raw bytes before a single object is made: 7 M zeros fit in 16 MB), a depth cap, no NaN or
  Infinity, and strings and keys that are Unicode scalar values (no lone surrogate: a
  "\\ud800" escape is valid JSON but cannot be encoded as UTF-8, so Arrow, protobuf and the
  browser fail on it) of bounded length.
- `VersionCache` keeps one parse per file version, keyed by (path, device, inode, size,
  mtime): a listing of N files parses each file once per change, not once per visit.

The file's own schema (what keys mean) is its module's: vae/metadata_check.py for checkpoint
metadata, ui/scenes.py for scenes.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

import numpy as np

T = TypeVar("T")

DEFAULT_MAX_VALUES = 200_000  # every number, string, null, list and mapping counts as one
DEFAULT_MAX_DEPTH = 10
DEFAULT_MAX_TEXT = 1_000


class UnsafeFileError(ValueError):
    """A file that is not read: not a regular file, a link, too large, or malformed."""


def open_regular(path: str | os.PathLike, max_bytes: int, *, follow_links: bool = False,
                 what: str = "file") -> tuple[BinaryIO, os.stat_result]:  # fmt: skip
    """(binary handle, fstat of the open file) for a regular, non-empty file of at most
    `max_bytes`; UnsafeFileError saying why not. The caller closes the handle."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnsafeFileError(f"no {what} at {path}") from None
    except IsADirectoryError:
        raise UnsafeFileError(f"{path.name} is a folder, not a {what}") from None
    except OSError as error:
        if not follow_links and os.path.islink(path):
            raise UnsafeFileError(f"{path.name} is a symbolic link, not a {what}") from None
        raise UnsafeFileError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise UnsafeFileError(f"{path.name} is {kind}, not a {what}")
        if not follow_links and os.path.islink(path):  # a platform without O_NOFOLLOW
            raise UnsafeFileError(f"{path.name} is a symbolic link, not a {what}")
        if info.st_size == 0:
            raise UnsafeFileError(f"{path.name} is empty")
        if info.st_size > max_bytes:
            raise UnsafeFileError(
                f"{path.name} is {info.st_size / 2**20:.1f} MB, more than the "
                f"{max_bytes / 2**20:g} MB a {what} may be"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: reads never wait on a writer
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb"), info


def read_regular(path: str | os.PathLike, max_bytes: int, *, follow_links: bool = False,
                 what: str = "file") -> tuple[bytes, os.stat_result]:  # fmt: skip
    """The bytes of a regular file (open_regular's checks), read once, at most the size fstat
    gave (a file growing meanwhile is not read past it), with that fstat."""
    handle, info = open_regular(path, max_bytes, follow_links=follow_links, what=what)
    with handle:
        return handle.read(info.st_size), info


# -- JSON --------------------------------------------------------------------------------------

# Every byte but the four that count_json_values() looks at.
_NOT_COUNTED = bytes(b for b in range(256) if b not in b'",[{')


def count_json_values(raw: bytes) -> int:
    """An upper bound on the values a JSON text makes, from its bytes alone: each value but the
    first follows a ',' or opens a '[' / '{' outside a string. Linear, in C and numpy, before
    json.loads builds anything, and without a Python object per string (a regular expression
    that blanked the strings took 1.3 s and 230 MB on a 10 MB header of 2 M short strings).

    Escapes are dropped the way JSON pairs them, from the left: every '\\\\' first, then every
    '\\"'; the quotes left are the strings' own, and a running parity over them tells which
    commas and brackets lie outside every string."""
    structural = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_COUNTED)
    codes = np.frombuffer(structural, dtype=np.uint8)
    quotes = codes == ord('"')
    inside = np.logical_xor.accumulate(quotes)  # True from an opening quote to its closing one
    return int(np.count_nonzero(~inside & ~quotes)) + 1


def strict_json(
    text: str | bytes,
    what: str,
    *,
    max_values: int = DEFAULT_MAX_VALUES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_text: int = DEFAULT_MAX_TEXT,
    error: type[ValueError] = UnsafeFileError,
) -> Any:
    """json.loads for untrusted text, or `error` with one sentence: at most `max_values` values
    and `max_depth` levels, no NaN/Infinity, every string and key valid Unicode of at most
    `max_text` characters (keys 200)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    values = count_json_values(raw)
    if values > max_values:
        raise error(f"{what} holds about {values:,} values; at most {max_values:,}")

    def refuse_constant(name: str) -> Any:
        raise error(f"{what} holds {name}, which is not a number JSON allows")

    try:
        document = json.loads(raw, parse_constant=refuse_constant)
    except RecursionError:
        raise error(f"{what} is nested too deeply (more than {max_depth} levels)") from None
    except ValueError as failure:  # UnicodeDecodeError and JSONDecodeError included
        if isinstance(failure, error):
            raise
        raise error(f"{what} is not valid JSON (UTF-8)") from None
    check_plain_values(document, what, max_depth=max_depth, max_text=max_text, error=error)
    return document


def check_plain_values(document: Any, what: str, *, max_depth: int = DEFAULT_MAX_DEPTH,
                       max_text: int = DEFAULT_MAX_TEXT,
                       error: type[ValueError] = UnsafeFileError) -> None:  # fmt: skip
    """Depth and text checks over a parsed document, without recursion."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, what, max_text, error)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise error(f"{what} is nested too deeply (more than {max_depth} levels)")
            if isinstance(item, dict):
                for key in item:
                    check_text(key, f"a key of {what}", 200, error)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


def check_text(value: str, what: str, max_chars: int,
               error: type[ValueError] = UnsafeFileError) -> str:  # fmt: skip
    """`value` if it is valid Unicode (scalar values only) of at most `max_chars` characters."""
    if len(value) > max_chars:
        raise error(f"{what} has a text of {len(value):,} characters; at most {max_chars:,}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise error(f"{what} has text that is not valid Unicode (a lone surrogate)") from None
    return value


# -- one parse per file version ----------------------------------------------------------------


@dataclass(frozen=True)
class FileVersion:
    """What identifies one version of a file: a save replaces the inode or changes the size or
    the modification time (nanoseconds), so any of them changing means a new parse."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike, info: os.stat_result) -> FileVersion:
        return cls(os.fspath(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


class VersionCache(Generic[T]):
    """Results (or the refusal) of parsing a file, one per FileVersion, least recently used
    evicted beyond `capacity`; thread-safe (every session of a server shares one)."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, tuple[T | None, Exception | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: FileVersion, parse: Callable[[], T]) -> T:
        """parse()'s result for this version, computed once; a ValueError it raised is
        remembered and raised again (a broken file stays broken until it changes)."""
        with self._lock:
            if version in self._items:
                self._items.move_to_end(version)
                result, failure = self._items[version]
                if failure is not None:
                    raise failure
                return result  # type: ignore[return-value]
        try:
            result, failure = parse(), None
        except ValueError as refused:
            result, failure = None, refused
        with self._lock:
            self._items[version] = (result, failure)
            self._items.move_to_end(version)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        if failure is not None:
            raise failure
        return result  # type: ignore[return-value]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


__all__ = [
    "FileVersion",
    "UnsafeFileError",
    "VersionCache",
    "check_text",
    "count_json_values",
    "open_regular",
    "read_regular",
    "strict_json",
]

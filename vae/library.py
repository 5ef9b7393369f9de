"""The model library: a folder of `<name>.safetensors` checkpoints, safe for concurrent sessions.

Every write goes through a hidden temp file in the same folder and an atomic rename, so many
threads or processes (Streamlit sessions, the CLI) may save, list, load and delete at once:
a reader sees a whole old file, a whole new one, or none - never a partial one. A save that was
killed (SIGKILL, power loss) can leave its hidden temp file behind; the next save or import
removes such leftovers once they are clearly abandoned (see remove_stale_temp_files).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoint import (
    MAX_CHECKPOINT_BYTES,
    SUFFIX,
    CheckpointError,
    checkpoint_bytes,
    fsync_dir,
    load_checkpoint,
    read_checkpoint_bytes,
    remove_quietly,
    verify_checkpoint,
    write_temp,
)
from .model import VAE
from .strict_files import FileVersion, VersionCache

MAX_NAME_LENGTH = 80
_ALLOWED = re.compile(r"[A-Za-z0-9 _.\-]+")
# Names Windows reserves whatever the extension; refused so that a library folder can be copied.
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}


# A temp file of vae.checkpoint.write_temp: ".incoming-<writer pid>-<random>.tmp" (older versions
# wrote ".incoming-<random>.tmp", without the pid).
_TEMP_NAME = re.compile(r"\.incoming-(?:(?P<pid>\d+)-)?.*\.tmp", re.DOTALL)
# A save writes, fsyncs, validates and renames its temp file within seconds. A temp file left
# unmodified this long is a leftover unless its writer is known to be still running here (a pid
# is checked on this machine only: a folder shared with another machine relies on the age).
STALE_TEMP_SECONDS = 10 * 60
# Removed whatever the name says (the pid reused by a long-lived process, say).
ABANDONED_TEMP_SECONDS = 24 * 3600


class ModelExistsError(CheckpointError):
    """A model of that name is already in the library and overwrite was not asked for."""


@dataclass(frozen=True)
class ModelEntry:
    """One file of the library. A broken file has `error` set and whatever metadata was readable."""

    name: str  # the file stem: what load(), delete() take
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why the file cannot be used, None when it is a valid checkpoint
    mtime: float = 0.0  # seconds since the epoch; changes when the file is replaced
    size: int = 0  # bytes
    epochs: int = 0  # epochs trained (the history itself is not listed: it can be 120k values)

    @property
    def ok(self) -> bool:
        return self.error is None


def safe_model_name(name: str) -> str:
    """The name, stripped, if it is safe as a file stem; ValueError with the reason otherwise.

    Allowed: ASCII letters, digits, space, '-', '_' and '.'; no leading dot, no '..', at most
    MAX_NAME_LENGTH characters. This rules out path separators, traversal and control characters.
    """
    if not isinstance(name, str):
        raise ValueError(f"a model name must be text, got {type(name).__name__}")
    stripped = name.strip()
    if not stripped:
        raise ValueError("a model name cannot be empty")
    if len(stripped) > MAX_NAME_LENGTH:
        raise ValueError(f"a model name can have at most {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in stripped):
        raise ValueError("a model name cannot contain control characters")
    if "/" in stripped or "\\" in stripped:
        raise ValueError("a model name cannot contain '/' or '\\'")
    if ".." in stripped:
        raise ValueError("a model name cannot contain '..'")
    if stripped.startswith("."):
        raise ValueError("a model name cannot start with '.'")
    if stripped.endswith("."):
        raise ValueError("a model name cannot end with '.'")
    if not _ALLOWED.fullmatch(stripped):
        bad = sorted({c for c in stripped if not _ALLOWED.fullmatch(c)})
        raise ValueError(
            f"a model name may use letters, digits, spaces, '-', '_' and '.' only, not {''.join(bad)!r}"
        )
    if stripped.split(".")[0].strip().upper() in _RESERVED:
        raise ValueError(f"{stripped!r} is a reserved file name on Windows; choose another name")
    return stripped


# One check per file version for every listing of every session (a page visit lists the
# library): a file is read in full once when it changes, never once per visit.
_VERIFIED: VersionCache[dict[str, Any]] = VersionCache(capacity=512)


def _listed_metadata(path: Path, info: os.stat_result) -> dict[str, Any]:
    """What a listing holds of a checkpoint that loads: its metadata without the history (a
    count of epochs stands for it), shared by every listing of this file version; the
    refusal (CheckpointError) of one that would not load."""

    def verify() -> dict[str, Any]:
        metadata = verify_checkpoint(path, follow_links=False)
        history = metadata.pop("history", None) or []
        return {**metadata, "epochs": len(history)}

    return _VERIFIED.get(FileVersion.of(path, info), verify)


def _entry(name: str, path: Path, listed: dict[str, Any], error: str | None,
           info: os.stat_result) -> ModelEntry:  # fmt: skip
    metadata = {k: v for k, v in listed.items() if k != "epochs"}
    epochs = int(listed.get("epochs", 0))
    return ModelEntry(name, path, metadata, error, info.st_mtime, info.st_size, epochs)


def _newest_first(entry: ModelEntry) -> float:
    """When the model was made: its `created` time, but never later than the file itself (a
    forged "9999-…" or "\uffff…" cannot pin a model to the top), else the file's time."""
    created = entry.metadata.get("created")
    try:
        when = dt.datetime.fromisoformat(created).timestamp() if isinstance(created, str) else None
    except (ValueError, OverflowError, OSError):
        when = None
    return entry.mtime if when is None else min(when, entry.mtime)


def default_library_root() -> Path:
    """$VAE_EXPLORER_MODELS, else ./models. The folder is created when a model is first saved."""
    return Path(os.environ.get("VAE_EXPLORER_MODELS") or "models")


class ModelLibrary:
    """Save, list, load, import and delete checkpoints in one folder."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_library_root()

    def path_for(self, name: str) -> Path:
        """Where the model `name` lives; ValueError for unsafe names. Always inside the root."""
        safe = safe_model_name(name)
        root = self.root.resolve()
        # The last component is not resolved: delete() removes a link, not its target, and
        # load and download refuse links (only regular files in the folder are served).
        path = root / f"{safe}{SUFFIX}"
        if path.parent != root or os.path.normpath(path) != str(path):  # belt and braces
            raise ValueError(f"the model name {name!r} points outside the library")
        return path

    def list(self) -> list[ModelEntry]:
        """Every `*.safetensors` in the folder, newest first; broken files come with `error` set."""
        if not self.root.is_dir():
            return []
        entries = []
        for path in self.root.iterdir():
            if path.name.startswith(".") or not path.name.endswith(SUFFIX):
                continue  # temp files of saves in progress are hidden
            try:
                info = path.lstat()  # the entry itself: a link is not followed
            except OSError:
                continue  # deleted since iterdir()
            name = path.name[: -len(SUFFIX)]
            if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
                what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
                if stat.S_ISDIR(info.st_mode):
                    continue  # a folder named like a model: not ours to list
                error = f"the file is {what}; only regular files in the folder are used"
                entries.append(ModelEntry(name, path, {}, error, info.st_mtime, 0))
                continue
            if _unsafe_name(name):
                # Copied in by hand (e.g. "mnist(1).safetensors"): load() would refuse the name.
                error = f"the file name is not a valid model name ({_unsafe_name(name)}); rename it"
                entries.append(ModelEntry(name, path, {}, error, info.st_mtime, info.st_size))
                continue
            try:
                metadata, error = _listed_metadata(path, info), None
            except CheckpointError as failure:
                if not os.path.lexists(path):
                    continue  # deleted while we read it: not a broken file
                metadata, error = {}, str(failure)
            entries.append(_entry(name, path, metadata, error, info))
        return sorted(entries, key=_newest_first, reverse=True)

    def names(self) -> list[str]:
        """Names of the valid models, newest first."""
        return [entry.name for entry in self.list() if entry.ok]

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.path_for(name))

    def save(
        self, name: str, model: VAE, metadata: dict[str, Any], overwrite: bool = False
    ) -> Path:
        """Store `model` as `name`; ModelExistsError if taken and overwrite is False."""
        path = self.path_for(name)
        data = checkpoint_bytes(model, {**metadata, "name": path.name[: -len(SUFFIX)]})
        self.remove_stale_temp_files()
        self._install(path, write_temp(path.parent, data), overwrite)
        return path

    def load(self, name: str, device: str = "cpu") -> tuple[VAE, dict[str, Any]]:
        path = self.path_for(name)
        if not os.path.lexists(path):
            raise CheckpointError(f"there is no model called {name!r} in {self.root}")
        return load_checkpoint(path, device=device, follow_links=False)

    def read_bytes(self, name: str) -> bytes:
        """The checkpoint file of `name` for a download: a regular file in the folder (never a
        link), its header validated in the very bytes returned."""
        path = self.path_for(name)
        if not os.path.lexists(path):
            raise CheckpointError(f"there is no model called {name!r} in {self.root}")
        return read_checkpoint_bytes(path, follow_links=False)

    def entry(self, name: str) -> ModelEntry:
        """The library entry of one model (validated header), CheckpointError if absent."""
        path = self.path_for(name)
        try:
            info = path.lstat()
        except OSError:
            raise CheckpointError(f"there is no model called {name!r} in {self.root}") from None
        return _entry(path.name[: -len(SUFFIX)], path, _listed_metadata(path, info), None, info)

    def delete(self, name: str) -> None:
        path = self.path_for(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise CheckpointError(f"there is no model called {name!r} in {self.root}") from None
        except OSError as error:
            raise CheckpointError(f"cannot delete {name!r}: {error.strerror or error}") from None
        fsync_dir(path.parent)

    def import_bytes(self, name: str, data: bytes, overwrite: bool = False) -> ModelEntry:
        """Add a checkpoint's bytes (the app's upload: what the upload sandbox re-serialised,
        runner/sandbox.py): fully validated in a temp file before it can replace anything."""
        path = self.path_for(name)
        if len(data) > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(
                f"the upload is {len(data) / 2**20:.0f} MB, more than the "
                f"{MAX_CHECKPOINT_BYTES // 2**20} MB a checkpoint may be"
            )
        self.remove_stale_temp_files()
        temp = write_temp(path.parent, bytes(data))
        try:
            # The messages name the file: the user knows it as their upload, not our temp file.
            load_checkpoint(temp, label="the uploaded file")  # CheckpointError if anything is wrong
        except BaseException:
            remove_quietly(temp)
            raise
        self._install(path, temp, overwrite)
        return self.entry(name)

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete the temp files that killed saves left in the folder; returns what was deleted.

        Never one that a save in this or another process may still be writing: a file goes when
        it is ABANDONED_TEMP_SECONDS old, or STALE_TEMP_SECONDS old and its writer (the pid in
        its name) is not running on this machine. Errors are ignored: this is housekeeping.
        """
        now = time.time()
        removed = []
        try:
            names = [(p, _TEMP_NAME.fullmatch(p.name)) for p in self.root.iterdir()]
        except OSError:  # no folder yet, or not readable: nothing to clean
            return removed
        for path, pid in ((p, m.group("pid")) for p, m in names if m):
            try:
                info = path.lstat()
            except OSError:
                continue  # renamed into place or removed since iterdir()
            if not stat.S_ISREG(info.st_mode):
                continue  # not something write_temp makes
            age = now - info.st_mtime
            writer_gone = pid is None or not _process_running(int(pid))
            if age >= ABANDONED_TEMP_SECONDS or (age >= STALE_TEMP_SECONDS and writer_gone):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
        return removed

    def _install(self, path: Path, temp: Path, overwrite: bool) -> None:
        """Move a complete temp file to `path` atomically (without replacing unless asked)."""
        try:
            if overwrite:
                os.replace(temp, path)
            else:
                # link() fails if `path` exists: an atomic "create only if absent", so two
                # sessions saving the same new name cannot both win.
                try:
                    os.link(temp, path)
                except FileExistsError:
                    raise
                except OSError:  # a filesystem without hard links: check, then rename
                    if os.path.lexists(path):
                        raise FileExistsError(path) from None
                    os.replace(temp, path)
                remove_quietly(temp)
        except FileExistsError:
            remove_quietly(temp)
            raise ModelExistsError(
                f"a model called {path.stem!r} already exists; choose another name or overwrite it"
            ) from None
        except OSError as error:
            remove_quietly(temp)
            raise CheckpointError(f"cannot save {path.stem!r}: {error.strerror or error}") from None
        fsync_dir(path.parent)


def _unsafe_name(name: str) -> str | None:
    """Why `name` (a file stem) cannot be used as a model name, or None when it can."""
    try:
        safe = safe_model_name(name)
    except ValueError as reason:
        return str(reason)
    return None if safe == name else "it has spaces at the start or end"


def _process_running(pid: int) -> bool:
    """Whether a process `pid` exists on this machine; True when that cannot be told."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: it exists but belongs to another user
        return True
    return True


__all__ = [
    "ModelEntry",
    "ModelExistsError",
    "ModelLibrary",
    "default_library_root",
    "safe_model_name",
]

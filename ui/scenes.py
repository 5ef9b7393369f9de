"""Lecture scenes: named views of the latent map, kept in the model library as `scenes.json`.

A scene is a name and a SharedView (the model, zoom window, colour-by, bubbles, prior, clicked z
and point, path, presenter mode), stored as the same query parameters a shared link carries. So
one codec (ui/view_link.py) validates both, and a scene file is checked like any other input:
read strictly (a regular file, not a link, at most MAX_FILE_BYTES), parsed once per version,
each scene's name (vae.library.safe_model_name's rules) and view checked on its own, so that
one bad scene is reported and the others are kept. No Streamlit here; ui/scene_panel.py is
the page glue.

Writes go to a hidden temp file in the library folder and an atomic rename (as checkpoints do),
under a lock file in that folder (filelock), so two sessions saving at once, in one server or
in the lecture hall's several worker processes, neither tear the file nor lose a scene.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from ui.view_link import KNOWN_PARAMS, SharedView, ShareError, decode_view, encode_view
from vae.checkpoint import fsync_dir
from vae.library import safe_model_name
from vae.strict_files import (
    FileVersion,
    UnsafeFileError,
    VersionCache,
    count_json_values,
    read_regular,
)

FILE_NAME = "scenes.json"
FORMAT_VERSION = 1
MAX_SCENES = 200
MAX_FILE_BYTES = 512 * 1024  # 200 scenes with long paths fit many times over
MAX_VALUES = 50_000  # JSON values in the file: a full file of 200 scenes holds about 3,000
LOCK_NAME = ".scenes.lock"  # hidden: the model library lists only *.safetensors
LOCK_SECONDS = 10  # a save holds the lock for milliseconds; longer means a stuck writer


class SceneError(ValueError):
    """A scene or the scene file is not valid; the message is one sentence for the user."""


@dataclass(frozen=True)
class Scene:
    name: str
    view: SharedView


def scene_name(name: object) -> str:
    """A scene's name checked by the model library's rules (no paths, no control characters)."""
    try:
        return safe_model_name(name)  # type: ignore[arg-type]
    except ValueError as error:
        reason = str(error).replace("a model name", "it")
        raise SceneError(f"that is not a valid scene name: {reason}") from None


def scene_to_json(scene: Scene) -> dict:
    return {"name": scene.name, "view": encode_view(scene.view)}


def _shown(text: object, limit: int = 40) -> str:
    """Untrusted text quoted for a message: repr (so a lone surrogate or a control character
    is written as an escape, never sent as is), cut to `limit` characters."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def scene_from_json(entry: object) -> Scene:
    """One stored scene {"name": str, "view": {param: str}} -> Scene, or SceneError."""
    if not isinstance(entry, dict) or set(entry) != {"name", "view"}:
        raise SceneError('a scene must be {"name": ..., "view": {...}}')
    name = scene_name(entry["name"])
    params = entry["view"]
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise SceneError(f"the view of scene {name!r} must map parameter names to text")
    unknown = [_shown(k, 20) for k in params if k not in KNOWN_PARAMS]
    if unknown:
        raise SceneError(f"scene {name!r} has unknown fields: {', '.join(unknown[:5])}")
    try:
        view, _ = decode_view(params)
    except ShareError as error:
        raise SceneError(f"scene {name!r}: {error}") from None
    if view.model is None:
        raise SceneError(f"scene {name!r} names no model")
    return Scene(name, view)


@dataclass(frozen=True)
class SceneFile:
    """What a scene file holds: every entry in order, each a Scene or, if it could not be read,
    its JSON as it was (written back unchanged by a save, so that a fix by hand loses nothing),
    and one sentence per entry, or for the file, that could not be read."""

    entries: tuple[object, ...] = ()
    problems: tuple[str, ...] = ()
    damaged: bool = False  # the file as a whole is not a scene list: nothing in it was read

    @property
    def scenes(self) -> list[Scene]:
        return [entry for entry in self.entries if isinstance(entry, Scene)]


def _damaged(problem: str) -> SceneFile:
    return SceneFile(problems=(problem,), damaged=True)


def parse_scenes(data: bytes) -> SceneFile:
    """The bytes of a scene file -> every scene that can be read, and why the others cannot.

    One bad scene never hides the others: each entry is checked on its own, a name taken by an
    earlier scene is a problem of the later one, entries past MAX_SCENES are not read.
    """
    if len(data) > MAX_FILE_BYTES:
        return _damaged(f"the scene file is too large ({len(data):,} bytes)")
    if (values := count_json_values(data)) > MAX_VALUES:
        return _damaged(f"the scene file holds about {values:,} values; at most {MAX_VALUES:,}")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return _damaged("the scene file is not valid JSON")
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        return _damaged(f"the scene file must be a version-{FORMAT_VERSION} scene list")
    raw = document.get("scenes")
    if not isinstance(raw, list):
        return _damaged("the scene file has no list of scenes")
    entries: list[object] = []
    problems: list[str] = []
    taken: set[str] = set()
    for number, entry in enumerate(raw, start=1):
        try:
            if number > MAX_SCENES:
                raise SceneError(f"a scene file holds at most {MAX_SCENES} scenes")
            scene = scene_from_json(entry)
            if scene.name.casefold() in taken:
                raise SceneError(f"the name {scene.name!r} is taken by an earlier scene")
        except SceneError as error:
            entries.append(entry)
            problems.append(f"scene {number}: {error}")
            continue
        taken.add(scene.name.casefold())
        entries.append(scene)
    return SceneFile(tuple(entries), tuple(problems))


def dump_scenes(entries: list[object] | tuple[object, ...]) -> bytes:
    """Scenes (and entries kept as they were read) -> the file's bytes. ASCII escapes for
    anything else, so that a kept entry holding a lone surrogate is written back as it came."""
    stored = [scene_to_json(e) if isinstance(e, Scene) else e for e in entries]
    document = {"version": FORMAT_VERSION, "scenes": stored}
    return json.dumps(document, ensure_ascii=True, indent=1).encode("ascii")


# One parse per version of a scene file, for every session of this server: the Latent map
# reads the scenes on every rerun. A save replaces the file (a new inode and mtime).
_PARSED: VersionCache[SceneFile] = VersionCache(capacity=8)


class SceneBook:
    """The scenes of one model library folder."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.path = self.root / FILE_NAME

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Held around read-modify-write: one writer at a time across threads and processes."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = FileLock(self.root / LOCK_NAME, timeout=LOCK_SECONDS, thread_local=False)
            lock.acquire()
        except Timeout:
            raise SceneError("another session is saving scenes right now; try again") from None
        except OSError as error:
            raise SceneError(f"the scenes cannot be written: {error.strerror or error}") from None
        try:
            yield
        finally:
            lock.release()

    def read_file(self) -> SceneFile:
        """Every scene that can be read and why the rest cannot; SceneFile() without a file.
        The file is read by the app's one strict reader (vae.strict_files: a regular file, no
        link followed, no blocking on a FIFO, at most MAX_FILE_BYTES); what it refuses (a
        FIFO, a link, a device, too large, unreadable) is a damaged file, set aside by a save."""
        if not os.path.lexists(self.path):
            return SceneFile()
        try:
            data, info = read_regular(self.path, MAX_FILE_BYTES, what="scene file")
        except UnsafeFileError as error:
            return _damaged(str(error))
        return _PARSED.get(FileVersion.of(self.path, info), lambda: parse_scenes(data))

    def read(self) -> list[Scene]:
        """The scenes that can be read, in the order they were saved."""
        return self.read_file().scenes

    def save(self, scene: Scene, overwrite: bool = False) -> tuple[list[Scene], str | None]:
        """Add `scene` (or replace the one of that name if `overwrite`); returns the scenes now
        and, when the old file was damaged as a whole, the name it was set aside under."""
        with self._locked():
            current = self.read_file()
            entries = list(current.entries)
            taken = [s for s in current.scenes if s.name.casefold() == scene.name.casefold()]
            if taken and not overwrite:
                raise SceneError(f"there is already a scene called {taken[0].name!r}")
            if taken:
                entries = [scene if e is taken[0] else e for e in entries]
            else:
                if len(current.scenes) >= MAX_SCENES:
                    raise SceneError(f"the library holds {MAX_SCENES} scenes; delete some first")
                entries.append(scene)
            aside = self._set_aside() if current.damaged else None
            self._write(entries)
            return [e for e in entries if isinstance(e, Scene)], aside

    def delete(self, name: str) -> list[Scene]:
        with self._locked():
            current = self.read_file()
            kept = [e for e in current.entries if not (isinstance(e, Scene) and e.name == name)]
            if len(kept) == len(current.entries):
                raise SceneError(f"there is no scene called {name!r}")
            self._write(kept)
            return [e for e in kept if isinstance(e, Scene)]

    def _set_aside(self) -> str:
        """Move a damaged scene file (whatever it is: a file, a link, a FIFO) out of the way,
        under a name that says so, instead of writing over it."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.root / f"scenes-damaged-{stamp}-{os.getpid()}.json"
        try:
            os.replace(self.path, aside)
        except OSError as error:
            raise SceneError(
                f"{FILE_NAME} cannot be read and cannot be moved aside: {error.strerror or error}"
            ) from None
        return aside.name

    def _write(self, entries: list[object]) -> None:
        """Atomically: a reader sees the whole old file or the whole new one."""
        data = dump_scenes(entries)
        if len(data) > MAX_FILE_BYTES:
            raise SceneError("the scenes would not fit in the scene file; delete some first")
        self.root.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=self.root, prefix=".scenes-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.path)
            fsync_dir(self.root)  # the rename itself survives a power cut
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


__all__ = [
    "FILE_NAME",
    "MAX_SCENES",
    "Scene",
    "SceneBook",
    "SceneError",
    "SceneFile",
    "dump_scenes",
    "parse_scenes",
    "scene_from_json",
    "scene_name",
]

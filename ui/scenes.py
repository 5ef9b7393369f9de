"""Lecture scenes: named views of the latent map, kept in the model library as `scenes.json`.

A scene is a name and a SharedView (the model, zoom window, colour-by, bubbles, prior, clicked z
and point, path, presenter mode), stored as the same query parameters a shared link carries. So
one codec (ui/view_link.py) validates both, and a scene file is checked on every read like any
other input: its size, its JSON, each scene's name (vae.library.safe_model_name's rules) and
each view. No Streamlit here; ui/scene_panel.py is the page glue.

Writes go to a hidden temp file in the library folder and an atomic rename (as checkpoints do),
under a lock file in that folder (filelock), so two sessions saving at once, in one server or
in the lecture hall's several worker processes, neither tear the file nor lose a scene.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from ui.view_link import KNOWN_PARAMS, SharedView, ShareError, decode_view, encode_view
from vae.checkpoint import fsync_dir
from vae.library import safe_model_name

FILE_NAME = "scenes.json"
FORMAT_VERSION = 1
MAX_SCENES = 200
MAX_FILE_BYTES = 512 * 1024  # 200 scenes with long paths fit many times over
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
    unknown = [k for k in params if k not in KNOWN_PARAMS]
    if unknown:
        raise SceneError(f"scene {name!r} has unknown fields: {', '.join(unknown[:5])[:80]}")
    try:
        view, _ = decode_view(params)
    except ShareError as error:
        raise SceneError(f"scene {name!r}: {error}") from None
    if view.model is None:
        raise SceneError(f"scene {name!r} names no model")
    return Scene(name, view)


def parse_scenes(data: bytes) -> list[Scene]:
    """The bytes of a scene file -> its scenes, in order; SceneError if anything is wrong.

    All or nothing: a file with one bad scene is reported, not half read, so that a save
    (which rewrites the file) can never drop the scenes that could not be read.
    """
    if len(data) > MAX_FILE_BYTES:
        raise SceneError(f"the scene file is too large ({len(data):,} bytes)")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise SceneError("the scene file is not valid JSON") from None
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise SceneError(f"the scene file must be a version-{FORMAT_VERSION} scene list")
    entries = document.get("scenes")
    if not isinstance(entries, list):
        raise SceneError("the scene file has no list of scenes")
    if len(entries) > MAX_SCENES:
        raise SceneError(f"the scene file holds {len(entries):,} scenes, more than {MAX_SCENES}")
    scenes = [scene_from_json(entry) for entry in entries]
    names = [s.name.casefold() for s in scenes]
    if len(set(names)) != len(names):
        raise SceneError("the scene file names a scene twice")
    return scenes


def dump_scenes(scenes: list[Scene]) -> bytes:
    document = {"version": FORMAT_VERSION, "scenes": [scene_to_json(s) for s in scenes]}
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


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

    def read(self) -> list[Scene]:
        """Every scene, in the order they were saved; [] when there is no file yet."""
        try:
            if self.path.stat().st_size > MAX_FILE_BYTES:
                raise SceneError(f"{FILE_NAME} is too large ({self.path.stat().st_size:,} bytes)")
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as error:
            raise SceneError(f"{FILE_NAME} cannot be read: {error.strerror or error}") from None
        return parse_scenes(data)

    def save(self, scene: Scene, overwrite: bool = False) -> list[Scene]:
        """Add `scene` (or replace the one of that name if `overwrite`); returns the new list."""
        with self._locked():
            scenes = self.read()
            taken = [s for s in scenes if s.name.casefold() == scene.name.casefold()]
            if taken and not overwrite:
                raise SceneError(f"there is already a scene called {taken[0].name!r}")
            if taken:
                scenes = [scene if s is taken[0] else s for s in scenes]
            else:
                if len(scenes) >= MAX_SCENES:
                    raise SceneError(f"the library holds {MAX_SCENES} scenes; delete some first")
                scenes.append(scene)
            self._write(scenes)
            return scenes

    def delete(self, name: str) -> list[Scene]:
        with self._locked():
            scenes = self.read()
            kept = [s for s in scenes if s.name != name]
            if len(kept) == len(scenes):
                raise SceneError(f"there is no scene called {name!r}")
            self._write(kept)
            return kept

    def _write(self, scenes: list[Scene]) -> None:
        """Atomically: a reader sees the whole old file or the whole new one."""
        data = dump_scenes(scenes)
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
    "dump_scenes",
    "parse_scenes",
    "scene_from_json",
    "scene_name",
]

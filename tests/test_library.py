"""The model library: safe names, listing with broken files, atomic save/import, many threads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import small_model
from vae.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint
from vae.library import (
    ABANDONED_TEMP_SECONDS,
    STALE_TEMP_SECONDS,
    ModelEntry,
    ModelExistsError,
    ModelLibrary,
    default_library_root,
    safe_model_name,
)
from vae.model import VAE

ROOT = Path(__file__).resolve().parents[1]


def same_weights(a: VAE, b: VAE) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mnist", "mnist"),
        ("  my model v1.2 ", "my model v1.2"),
        ("Fashion-MNIST_beta_4", "Fashion-MNIST_beta_4"),
        ("x" * 80, "x" * 80),
    ],
)
def test_safe_names_are_kept(name, expected):
    assert safe_model_name(name) == expected


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (".", "start with '.'"),
        ("..", "'..'"),
        ("../x", "'/'"),
        ("..\\x", "'\\\\'"),
        ("a/b", "'/'"),
        ("/etc/passwd", "'/'"),
        ("a..b", "'..'"),
        (".hidden", "start with '.'"),
        ("trailing.", "end with '.'"),
        ("\x00", "control"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("x" * 81, "at most 80"),
        ("x" * 5000, "at most 80"),
        ("naïve", "letters, digits"),
        ("a:b", "letters, digits"),
        ("a*b?", "letters, digits"),
        ("CON", "reserved"),
        ("nul.v2", "reserved"),
    ],
)
def test_unsafe_names_are_refused(name, reason):
    with pytest.raises(ValueError, match=reason):
        safe_model_name(name)


def test_non_text_name():
    with pytest.raises(ValueError, match="text"):
        safe_model_name(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["../x", "a/b", "\x00", "x" * 5000, "..", ".hidden"])
def test_library_never_touches_paths_for_unsafe_names(tmp_path, name):
    library = ModelLibrary(tmp_path / "lib")
    model = small_model(hidden=(16,))
    for action in (
        lambda: library.save(name, model, {}),
        lambda: library.load(name),
        lambda: library.delete(name),
        lambda: library.import_bytes(name, checkpoint_bytes(model, {})),
    ):
        with pytest.raises(ValueError):
            action()
    assert sorted(p.name for p in tmp_path.rglob("*")) in ([], ["lib"])  # nothing written
    assert library.list() == []


def test_paths_stay_inside_the_root(tmp_path):
    library = ModelLibrary(tmp_path)
    path = library.path_for(" a b ")
    assert path == (tmp_path / "a b.safetensors").resolve()
    assert path.parent == tmp_path.resolve()


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.delenv("VAE_EXPLORER_MODELS", raising=False)
    assert default_library_root() == Path("models")
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(tmp_path / "elsewhere"))
    assert default_library_root() == tmp_path / "elsewhere"
    assert ModelLibrary().root == tmp_path / "elsewhere"


# --- save / load / list / delete -----------------------------------------------------------


def test_save_load_list_delete(tmp_path):
    library = ModelLibrary(tmp_path / "models")  # created on the first save
    assert library.list() == []
    model = small_model(hidden=(16,))
    path = library.save("first", model, {"dataset": "digits", "created": "2026-01-01T00:00:00"})
    assert path == (tmp_path / "models" / "first.safetensors").resolve()
    library.save(
        "second",
        small_model(1, hidden=(16,)),
        {"dataset": "digits", "created": "2026-02-01T00:00:00"},
    )

    entries = library.list()
    assert [e.name for e in entries] == ["second", "first"]  # newest first
    assert all(isinstance(e, ModelEntry) and e.ok and e.size > 0 for e in entries)
    assert entries[1].metadata["name"] == "first"
    assert entries[1].metadata["model_config"]["input_dim"] == 64
    assert library.names() == ["second", "first"]

    loaded, metadata = library.load("first")
    assert same_weights(loaded, model)
    assert metadata["dataset"] == "digits"

    library.delete("first")
    assert library.names() == ["second"]
    with pytest.raises(CheckpointError, match="no model called 'first'"):
        library.load("first")
    with pytest.raises(CheckpointError, match="no model called 'first'"):
        library.delete("first")


def test_save_refuses_to_overwrite_unless_asked(tmp_path):
    library = ModelLibrary(tmp_path)
    library.save("m", small_model(0, hidden=(16,)), {})
    with pytest.raises(ModelExistsError, match="already exists"):
        library.save("m", small_model(1, hidden=(16,)), {})
    assert same_weights(library.load("m")[0], small_model(0, hidden=(16,)))  # untouched
    library.save("m", small_model(1, hidden=(16,)), {}, overwrite=True)
    assert same_weights(library.load("m")[0], small_model(1, hidden=(16,)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp files


def test_broken_files_are_listed_with_their_error(tmp_path):
    library = ModelLibrary(tmp_path)
    library.save("good", small_model(hidden=(16,)), {})
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "garbage.safetensors").write_bytes(os.urandom(300))
    (tmp_path / "notes.txt").write_text("not a model")  # other files are ignored
    (tmp_path / ".incoming-abc.tmp").write_bytes(b"half a save")  # temp files are hidden
    (tmp_path / "folder.safetensors").mkdir()  # not a file

    entries = {e.name: e for e in library.list()}
    assert set(entries) == {"good", "empty", "garbage"}
    assert entries["good"].ok
    assert "empty" in entries["empty"].error
    assert not entries["garbage"].ok and entries["garbage"].error
    assert library.names() == ["good"]
    with pytest.raises(CheckpointError):
        library.load("garbage")
    library.delete("garbage")  # a broken file can be removed
    assert "garbage" not in {e.name for e in library.list()}


# --- import --------------------------------------------------------------------------------


def test_import_bytes_validates_before_replacing(tmp_path):
    library = ModelLibrary(tmp_path)
    good = small_model(0, hidden=(16,))
    library.save("m", good, {})
    data = checkpoint_bytes(small_model(1, hidden=(16,)), {"name": "uploaded"})

    for broken in (b"", data[: len(data) // 2], b"\x80\x04pickle", os.urandom(1000)):
        with pytest.raises(CheckpointError):
            library.import_bytes("m", broken, overwrite=True)
    assert same_weights(library.load("m")[0], good)  # the good model survived every bad upload
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp left

    with pytest.raises(ModelExistsError):
        library.import_bytes("m", data)
    entry = library.import_bytes("new one", data)
    assert entry.name == "new one" and entry.ok and entry.metadata["name"] == "uploaded"
    assert same_weights(library.load("new one")[0], small_model(1, hidden=(16,)))
    library.import_bytes("m", data, overwrite=True)
    assert same_weights(library.load("m")[0], small_model(1, hidden=(16,)))


def test_import_refuses_huge_uploads_before_writing(tmp_path, monkeypatch):
    from vae import library as library_module

    monkeypatch.setattr(library_module, "MAX_CHECKPOINT_BYTES", 100)
    with pytest.raises(CheckpointError, match="more than"):
        ModelLibrary(tmp_path).import_bytes("m", b"x" * 101)
    assert list(tmp_path.iterdir()) == []


# --- concurrency ---------------------------------------------------------------------------


def test_many_threads_saving_listing_and_loading(tmp_path):
    """Streamlit runs sessions as threads: every operation must be whole, whatever interleaves."""
    library = ModelLibrary(tmp_path)
    models = [small_model(i, hidden=(64, 32)) for i in range(3)]
    library.save("shared", models[0], {})
    errors: list[BaseException] = []
    stop = time.monotonic() + 3.0

    def writer(i: int) -> None:
        while time.monotonic() < stop:
            library.save("shared", models[i], {"writer": i}, overwrite=True)
            library.save(f"own-{i}", models[i], {}, overwrite=True)
            library.delete(f"own-{i}")

    def reader() -> None:
        while time.monotonic() < stop:
            for entry in library.list():
                assert entry.ok, entry.error
            model, metadata = library.load("shared")
            assert same_weights(model, models[metadata.get("writer", 0)])

    def guarded(fn, *args):
        try:
            fn(*args)
        except BaseException as error:  # collected and re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(writer, i)) for i in range(3)]
    threads += [threading.Thread(target=guarded, args=(reader,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    assert library.names() == ["shared"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.safetensors"]


def test_concurrent_creates_of_one_name_have_one_winner(tmp_path):
    library = ModelLibrary(tmp_path)
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    models = [
        small_model(i, hidden=(16,)) for i in range(6)
    ]  # here: torch's global RNG is not per thread

    def create(i: int) -> None:
        barrier.wait()
        try:
            library.save("race", models[i], {"seed": i})
            outcomes.append("saved")
        except ModelExistsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 5 + ["saved"]
    model, metadata = load_checkpoint(tmp_path / "race.safetensors")
    assert same_weights(model, small_model(metadata["seed"], hidden=(16,)))


def test_files_copied_in_under_unusable_names_are_listed_as_broken(tmp_path):
    library = ModelLibrary(tmp_path)
    library.save("mnist", small_model(hidden=(16,)), {})
    (tmp_path / "mnist.safetensors").rename(tmp_path / "mnist(1).safetensors")
    (entry,) = library.list()
    assert entry.name == "mnist(1)" and not entry.ok and "rename" in entry.error
    assert library.names() == []


def test_import_errors_name_the_upload_not_the_temp_file(tmp_path):
    with pytest.raises(CheckpointError) as error:
        ModelLibrary(tmp_path).import_bytes("m", b"not a checkpoint at all")
    assert "the uploaded file" in str(error.value) and ".incoming" not in str(error.value)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_link_in_the_folder_is_listed_as_broken_and_deleted_as_a_link(tmp_path):
    """Only regular files in the folder are used: a link could point anywhere, and change."""
    elsewhere = tmp_path / "elsewhere"
    ModelLibrary(elsewhere).save("real", small_model(hidden=(16,)), {})
    library = ModelLibrary(tmp_path / "lib")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "linked.safetensors").symlink_to(elsewhere / "real.safetensors")
    assert library.names() == []
    assert "symbolic link" in library.list()[0].error
    with pytest.raises(CheckpointError, match="symbolic link"):
        library.load("linked")
    library.delete("linked")
    assert library.names() == [] and (elsewhere / "real.safetensors").exists()


# --- leftovers of killed saves ----------------------------------------------------------------


def aged(path: Path, seconds: float) -> Path:
    """Give `path` a modification time `seconds` in the past (as if last written then)."""
    when = time.time() - seconds
    os.utime(path, (when, when))
    return path


def old_file(path: Path, seconds: float) -> Path:
    path.write_bytes(b"half a checkpoint")
    return aged(path, seconds)


def finished_pid() -> int:
    """The pid of a process that has run and been reaped: no process has it now."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_files_go_and_live_writers_keep_theirs(tmp_path):
    library = ModelLibrary(tmp_path)
    dead = finished_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stale, young = STALE_TEMP_SECONDS + 60, STALE_TEMP_SECONDS - 60
    ancient = ABANDONED_TEMP_SECONDS + 60
    try:
        gone = {
            old_file(tmp_path / f".incoming-{dead}-dead0000.tmp", stale),  # writer killed
            old_file(tmp_path / ".incoming-old00000.tmp", stale),  # from before names had a pid
            old_file(tmp_path / f".incoming-{sleeper.pid}-abnd0000.tmp", ancient),
        }
        kept = {
            old_file(tmp_path / f".incoming-{dead}-yng00000.tmp", young),  # too young to judge
            old_file(tmp_path / ".incoming-yng00001.tmp", young),
            old_file(tmp_path / f".incoming-{sleeper.pid}-live0000.tmp", stale),  # still running
            old_file(tmp_path / f".incoming-{os.getpid()}-thrd0000.tmp", stale),  # this process
            old_file(tmp_path / ".hidden-notes.tmp", ancient),  # not a temp file of ours
            old_file(tmp_path / "incoming-1-x.tmp", ancient),
        }
        folder = tmp_path / f".incoming-{dead}-folder00.tmp"  # only files are removed
        folder.mkdir()
        kept.add(aged(folder, ancient))

        library.save("model", small_model(hidden=(16,)), {})  # a save cleans up first
        assert {p for p in tmp_path.iterdir() if p.name != "model.safetensors"} == kept
        assert not gone & set(tmp_path.iterdir())
        assert library.remove_stale_temp_files() == []  # nothing more to remove
        assert library.names() == ["model"]
    finally:
        sleeper.kill()
        sleeper.wait()


SAVE_LOOP = r"""
import sys
import torch
from vae.config import ModelConfig
from vae.library import ModelLibrary
from vae.model import VAE

library = ModelLibrary(sys.argv[1])
model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(16,)))
for i in range(20):
    library.save("other", model, {"round": i}, overwrite=True)
print("saved", i + 1)
"""


@pytest.mark.slow
def test_cleaning_during_saves_never_touches_a_temp_file_being_written(tmp_path, monkeypatch):
    """With the age limit at 0, only the writer's pid protects its temp file: saves in threads
    of this process and in another process all succeed while this one cleans without pause."""
    monkeypatch.setattr("vae.library.STALE_TEMP_SECONDS", 0)
    library = ModelLibrary(tmp_path)
    library.save(
        "seed", small_model(hidden=(16,)), {}
    )  # the folder exists before the cleaning starts
    other_process = subprocess.Popen(
        [sys.executable, "-c", SAVE_LOOP, str(tmp_path)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    errors: list[BaseException] = []

    def save_in_a_thread(i: int) -> None:
        try:
            for round_ in range(10):
                library.save(
                    f"thread-{i}", small_model(i, hidden=(16,)), {"round": round_}, overwrite=True
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=save_in_a_thread, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    removed = []
    deadline = time.monotonic() + 300
    while any(t.is_alive() for t in threads) or other_process.poll() is None:
        assert time.monotonic() < deadline, "the savers did not finish"
        removed += library.remove_stale_temp_files()
        time.sleep(0.001)
    for thread in threads:
        thread.join()
    out, err = other_process.communicate(timeout=60)
    assert not errors, errors[0]
    assert other_process.returncode == 0 and out.strip() == "saved 20", err
    assert removed == []
    assert sorted(library.names()) == ["other", "seed", "thread-0", "thread-1"]


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigkill_leftovers_are_cleaned_by_the_next_save_once_stale(tmp_path):
    """tests/test_faults.py's SIGKILL helper kills saves and imports mid-write; the temp files
    it leaves are kept while young, then removed by the next save, and no model is harmed."""
    from tests.test_faults import save_and_kill

    root = tmp_path / "models"
    leftovers: list[Path] = []
    with save_and_kill(root) as kill:
        for delay in [0.05, 0.15, 0.3, 0.45] * 6:  # until a kill lands inside a write
            kill(delay)
            leftovers = sorted(root.glob(".incoming-*.tmp")) if root.exists() else []
            if len(leftovers) >= 2:
                break
    assert leftovers, "no kill landed inside a save: nothing to clean"
    library = ModelLibrary(root)
    library.save(
        "after", small_model(hidden=(16,)), {}
    )  # young leftovers: a writer might still be busy
    assert sorted(root.glob(".incoming-*.tmp")) == leftovers
    for path in leftovers:
        aged(path, STALE_TEMP_SECONDS + 1)
    library.save("after", small_model(1, hidden=(16,)), {}, overwrite=True)
    assert list(root.glob(".*")) == []
    assert all(entry.ok for entry in library.list())
    assert same_weights(library.load("after")[0], small_model(1, hidden=(16,)))


def test_an_empty_models_variable_means_the_same_folder_to_the_app_and_the_cli(monkeypatch):
    from ui.loaders import model_library

    monkeypatch.setenv("VAE_EXPLORER_MODELS", "")
    assert default_library_root() == Path("models")
    assert model_library().root == Path("models").resolve()

"""Hostile situations for the CLI: a second run onto the same --out, a full or read-only
output folder, data folders holding devices or FIFOs, file names with terminal escapes.

Every case ends in one `error:` line before any training time is spent, and nothing on disk
is replaced without --force.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vae.cli.train_command as train_command
from tests.hostile import assert_cli_refused, run_cli
from vae.data import DataError, load_user_data

SMALL = ["--dataset", "digits", "--epochs", "1", "--hidden", "16", "--batch-size", "256",
         "--quiet"]  # fmt: skip


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Training that records it was reached: a refusal must come before it."""
    reached: list[str] = []

    def refuse(*args, **kwargs):
        reached.append("trained")
        raise AssertionError("training started although the output cannot be written")

    monkeypatch.setattr(train_command, "_train_with_progress", refuse)
    return reached


def test_a_second_train_onto_the_same_out_refuses_without_force(tmp_path: Path) -> None:
    out = tmp_path / "m.safetensors"
    assert run_cli(["train", *SMALL, "--out", str(out)])[0] == 0
    first = out.read_bytes()
    code, _, err = run_cli(["train", *SMALL, "--seed", "1", "--out", str(out)])
    assert_cli_refused(code, err, "already exists; pass --force")
    assert out.read_bytes() == first
    assert run_cli(["train", *SMALL, "--seed", "1", "--out", str(out), "--force"])[0] == 0
    assert out.read_bytes() != first


def test_a_file_saved_there_while_training_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs started together both find --out free; the one that finishes second must not
    silently replace the other's model."""
    out = tmp_path / "m.safetensors"
    real = train_command._train_with_progress

    def train_while_another_run_saves(*args, **kwargs):
        result = real(*args, **kwargs)
        out.write_bytes(b"the other run's model")
        return result

    monkeypatch.setattr(train_command, "_train_with_progress", train_while_another_run_saves)
    code, _, err = run_cli(["train", *SMALL, "--out", str(out)])
    assert_cli_refused(code, err, "already exists; pass --force")
    assert out.read_bytes() == b"the other run's model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def test_a_full_disk_is_found_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_training: list[str]
) -> None:
    import shutil

    full = shutil.disk_usage(tmp_path)._replace(free=1024)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: full)
    code, _, err = run_cli(["train", *SMALL, "--out", str(tmp_path / "m.safetensors")])
    assert_cli_refused(code, err, "has 0 MB free; the checkpoint needs up to")
    assert not no_training


def test_an_unwritable_out_is_found_before_training(tmp_path: Path, no_training) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(["train", *SMALL, "--out", str(blocker / "m.safetensors")])
    assert_cli_refused(code, err, "cannot write into")
    assert not no_training


def _image_folder(root: Path) -> Path:
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((4, 4), 40 * i, np.uint8)).save(root / label / f"{i}.png")
    return root


@pytest.mark.skipif(os.name != "posix", reason="devices and FIFOs as POSIX makes them")
@pytest.mark.parametrize("plant", ["dev-zero-link", "fifo", "fifo-as-the-file"])
def test_devices_and_fifos_in_data_are_refused_at_once(tmp_path: Path, plant: str) -> None:
    """Before, /dev/zero was read until memory ran out and a FIFO blocked forever."""
    folder = _image_folder(tmp_path / "data")
    target = folder
    if plant == "dev-zero-link":
        os.symlink("/dev/zero", folder / "a" / "zero.png")
    elif plant == "fifo":
        os.mkfifo(folder / "b" / "pipe.png")
    else:
        target = tmp_path / "pipe.csv"
        os.mkfifo(target)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            load_user_data(target)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=60)  # a generous bound for a hang, not a speed target
    assert outcome, "the reader is blocked"
    assert isinstance(outcome[0], DataError), outcome
    assert "not a regular file" in str(outcome[0])


def test_list_prints_file_names_with_control_characters_escaped(tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    (root / "evil\x1b]0;owned\x07\x1b[2J.safetensors").write_bytes(b"x" * 64)
    (root / "cr\rfake ok line.safetensors").write_bytes(b"x" * 64)
    code, out, _ = run_cli(["list", "--root", str(root)])
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "evil\\x1b]0;owned\\x07\\x1b[2J" in out and "cr\\rfake ok line" in out

"""Hostile files in the folders the server reads: symbolic links, FIFOs and devices.

Only validated regular files inside the models folder are ever loaded or served (a link named
`x.safetensors` pointing at /etc/passwd must not be downloadable); a data folder holding a FIFO
or a link to /dev/zero is refused with a sentence instead of hanging or eating memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.conftest import small_model
from tests.hostile import assert_clear_message, run_cli
from vae.checkpoint import CheckpointError
from vae.library import ModelLibrary

pytestmark = pytest.mark.skipif(os.name != "posix", reason="links and FIFOs as POSIX makes them")


@pytest.fixture
def library(tmp_path: Path) -> ModelLibrary:
    lib = ModelLibrary(tmp_path / "models")
    lib.save("good", small_model(), {"name": "good", "dataset": "digits"})
    return lib


def _secret(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    return secret


def link_to_passwd(lib: ModelLibrary, tmp_path: Path) -> None:
    os.symlink("/etc/passwd", lib.root / "passwd.safetensors")


def link_to_outside_file(lib: ModelLibrary, tmp_path: Path) -> None:
    os.symlink(_secret(tmp_path), lib.root / "secret.safetensors")


def link_to_a_valid_checkpoint_outside(lib: ModelLibrary, tmp_path: Path) -> None:
    """Even a real checkpoint is not served through a link: it may change after the check."""
    outside = tmp_path / "elsewhere"
    ModelLibrary(outside).save("real", small_model(1), {"name": "real", "dataset": "digits"})
    os.symlink(outside / "real.safetensors", lib.root / "linked.safetensors")


def relative_link_upwards(lib: ModelLibrary, tmp_path: Path) -> None:
    _secret(tmp_path)
    os.symlink("../outside/secret.txt", lib.root / "up.safetensors")


def fifo(lib: ModelLibrary, tmp_path: Path) -> None:
    os.mkfifo(lib.root / "pipe.safetensors")


def link_to_dev_zero(lib: ModelLibrary, tmp_path: Path) -> None:
    os.symlink("/dev/zero", lib.root / "zero.safetensors")


PLANTS = [link_to_passwd, link_to_outside_file, link_to_a_valid_checkpoint_outside,
          relative_link_upwards, fifo, link_to_dev_zero]  # fmt: skip


@pytest.mark.parametrize("plant", PLANTS, ids=[p.__name__ for p in PLANTS])
def test_links_and_special_files_are_listed_as_broken_and_never_served(
    plant, library: ModelLibrary, tmp_path: Path
) -> None:
    plant(library, tmp_path)
    entries = {entry.name: entry for entry in library.list()}
    assert entries["good"].ok
    (name,) = set(entries) - {"good"}
    assert not entries[name].ok
    assert_clear_message(entries[name].error, "symbolic link|not a regular file")
    with pytest.raises(CheckpointError) as caught:
        library.read_bytes(name)  # what the Models page's Download serves
    assert_clear_message(str(caught.value), "symbolic link|not a regular file")
    with pytest.raises(CheckpointError) as caught:
        library.load(name)
    assert_clear_message(str(caught.value), "symbolic link|not a regular file")
    assert library.read_bytes("good")[:8]  # the neighbour is still served
    library.delete(name)  # removes the entry itself, never the link's target
    assert not os.path.lexists(library.root / f"{name}.safetensors")
    assert Path("/etc/passwd").exists()


def test_a_fifo_given_to_the_cli_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes: it must be refused at once."""
    pipe = tmp_path / "pipe.safetensors"
    os.mkfifo(pipe)
    code, _, err = run_cli(["info", "--checkpoint", str(pipe)])
    assert code != 0 and "not a regular file" in err


def test_the_models_page_download_serves_only_the_validated_bytes(
    library: ModelLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's Download of a link is disabled and its data callable refuses; a good model's
    bytes are the file's own."""
    from streamlit.testing.v1 import AppTest

    from tests.hostile import ROOT

    link_to_passwd(library, tmp_path)
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(library.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="models_chosen").set_value("passwd").run()
    assert not at.exception
    button = at.get("download_button")
    download = next(b for b in button if b.proto.id.endswith("models_download")
                    or "models_download" in b.proto.id and "current" not in b.proto.id)  # fmt: skip
    assert download.proto.disabled
    assert torch.equal(
        library.load("good")[0].state_dict()["encoder_head.weight"],
        small_model().state_dict()["encoder_head.weight"],
    )

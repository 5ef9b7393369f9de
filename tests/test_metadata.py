"""Checkpoint metadata has one builder: a model trained on a user's file never opens with
built-in data, whether the CLI or the app trained it."""

from __future__ import annotations

import numpy as np
import pytest

from ui.badge import dataset_label
from ui.models import builtin_dataset
from vae.checkpoint import read_metadata
from vae.cli import main
from vae.metadata import dataset_file


@pytest.fixture(scope="module")
def noise_named_digits(tmp_path_factory):
    """A CLI model trained on 64-dimensional noise from a user file called digits.npz."""
    folder = tmp_path_factory.mktemp("user-data")
    rng = np.random.default_rng(0)
    data = folder / "digits.npz"
    np.savez(data, x=rng.random((200, 64), dtype=np.float32))
    out = folder / "noise.safetensors"
    argv = ["train", "--data", str(data), "--epochs", "1", "--hidden", "16", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    return read_metadata(out)


def test_a_cli_model_on_a_user_file_is_not_taken_for_the_builtin_dataset(noise_named_digits):
    meta = noise_named_digits
    assert meta["dataset"] == "digits"  # the file's stem: the name alone cannot tell them apart
    assert meta["dataset_source"] == "upload" and meta["dataset_file"] == "digits.npz"
    assert builtin_dataset(meta) is None  # so the app asks for the file instead of load_digits
    assert dataset_label(meta) == "digits.npz"


def test_the_cli_and_the_app_write_the_same_keys(noise_named_digits, tmp_path):
    from runner.job import TrainingJob
    from vae import VAE, ModelConfig, TrainConfig
    from vae.data import load_dataset
    from vae.metadata import training_metadata

    digits = load_dataset("digits")
    job = TrainingJob(
        VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(16,))),
        digits,
        TrainConfig(epochs=1, snapshot_latents=False),
    ).start()
    assert job.join(60)
    app_meta = training_metadata("m", digits, job.model, job.config, job.result)
    cli_only = {"interrupted", "epochs_trained", "train_seconds"}
    assert set(noise_named_digits) - cli_only == set(app_meta)
    assert builtin_dataset(app_meta) == "digits"


def test_checkpoints_from_before_dataset_source_still_name_their_file():
    legacy_cli = {"dataset": "digits", "data_file": "digits.npz"}
    assert dataset_file(legacy_cli) == "digits.npz"
    assert builtin_dataset(legacy_cli) is None
    assert dataset_file({"dataset": "digits"}) is None
    assert builtin_dataset({"dataset": "digits"}) == "digits"

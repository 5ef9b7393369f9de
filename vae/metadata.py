"""Checkpoint metadata: the one builder (CLI, app, quick trainings) and the one reader of its
dataset origin.

A checkpoint holds no training data, so its metadata must say where the data came from: a
built-in dataset (``dataset_source = "builtin"``, opened by name) or a user's file
(``dataset_source = "upload"``, ``dataset_file`` = the file's name, which whoever opens the
model must supply again). A user file called ``digits.npz`` gets the name "digits" too, so the
name alone can never tell the two apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import torch

from .config import TrainConfig
from .device import describe_device
from .model import VAE
from .train import TrainResult
from .version import __version__


def training_metadata(
    name: str,
    dataset: Any,
    model: VAE,
    config: TrainConfig,
    result: TrainResult,
    dataset_file: str | None = None,
    test_metrics: dict[str, float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata of a freshly trained model (keys per vae/checkpoint.py).

    dataset_file: the user's file the data came from, None for a built-in dataset.
    test_metrics: the final test metrics; by default the last evaluated epoch's.
    extra: further plain-data keys (e.g. the CLI's `interrupted`).
    """
    if test_metrics is None:
        test_metrics = last_test_metrics(result.history) or {}
    return {
        "name": name,
        "dataset": dataset.name,
        "dataset_source": "upload" if dataset_file else "builtin",
        "dataset_file": dataset_file,
        "preprocessing": dict(dataset.preprocessing),
        "model_config": model.config.to_dict(),
        "train_config": config.for_model(model.config).to_dict(),  # what the trainer did
        "history": [dict(h) for h in result.history],
        "test_metrics": dict(test_metrics),
        "vae_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": describe_device(torch.device(result.device)),
        **extra,
    }


def imported_metadata(
    name: str, card: Any, report: dict[str, Any], sources: dict[str, str]
) -> dict[str, Any]:
    """The metadata of a foreign model (vae/foreign) as it enters the library.

    card: its vae.foreign.card.Card; report: what the import's probes measured; sources: the
    file names it came from ({"encoder": ..., "decoder": ..., "card": ...}). Its data is the
    card's built-in dataset, or the user's own file (named by nobody: whoever opens the model
    supplies it, as for a model trained on an upload).
    """
    return {
        "name": name,
        "dataset": card.dataset or "your data",
        "dataset_source": "builtin" if card.dataset else "upload",
        "dataset_file": None if card.dataset else "the data the model was trained on",
        "train_config": {"dynamic_binarization": card.binarized},
        "imported": {"format": "onnx", "probes": dict(report), "files": dict(sources)},
        "vae_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def last_test_metrics(history: list[dict[str, float]]) -> dict[str, float] | None:
    """{"recon", "kl", "elbo"} of the last epoch that was evaluated on the test set, or None."""
    last_test = next((h for h in reversed(history) if "test_elbo" in h), None)
    if last_test is None:
        return None
    return {k.removeprefix("test_"): v for k, v in last_test.items() if k.startswith("test_")}


def dataset_file(metadata: dict[str, Any]) -> str | None:
    """The user's data file a model was trained on, or None when it was a built-in dataset.

    Checkpoints written by the CLI before dataset_source existed name the file as `data_file`.
    """
    if metadata.get("dataset_source", "builtin") != "builtin":
        return str(metadata.get("dataset_file") or metadata.get("dataset") or "?")
    legacy = metadata.get("data_file")
    return str(legacy) if legacy else None


def builtin_dataset(metadata: dict[str, Any], choices: tuple[str, ...]) -> str | None:
    """The built-in dataset (one of `choices`) a model was trained on, else None."""
    name = metadata.get("dataset")
    if dataset_file(metadata) is not None or name not in choices:
        return None
    return name


__all__ = [
    "builtin_dataset",
    "dataset_file",
    "imported_metadata",
    "last_test_metrics",
    "training_metadata",
]

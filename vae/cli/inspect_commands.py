"""`python -m vae info` (what one checkpoint holds) and `list` (the models in the library)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..checkpoint import read_metadata
from ..library import ModelLibrary, default_library_root
from ..scoring import not_a_likelihood, trained_binarized
from .shared import format_metrics, printable

# The training settings `info` shows, in this order (the rest is in `info --json`).
_TRAIN_KEYS = (
    "epochs",
    "batch_size",
    "lr",
    "lr_schedule",
    "beta",
    "warmup_epochs",
    "dynamic_binarization",
    "seed",
)
_MODEL_KEYS = ("architecture", "hidden", "latent_dim", "likelihood", "input_dim")


def run_info(args: argparse.Namespace) -> int:
    metadata = read_metadata(args.checkpoint)
    if args.json:
        print(json.dumps(metadata, indent=2))
    else:
        print(f"checkpoint:  {printable(args.checkpoint)}")
        print("\n".join(printable(line) for line in checkpoint_summary(metadata)))
    return 0


def run_list(args: argparse.Namespace) -> int:
    library = ModelLibrary(args.root if args.root is not None else default_library_root())
    entries = library.list()
    if not entries:
        print(f"no models in {library.root}")
    for entry in entries:
        if entry.ok:
            meta = entry.metadata
            elbo = (meta.get("test_metrics") or {}).get("elbo")
            score = f"test ELBO {elbo:.2f}" if isinstance(elbo, (int, float)) else ""
            dataset, created = (printable(meta.get(k) or "?") for k in ("dataset", "created"))
            print(f"{printable(entry.name):30s} {dataset:14s} {created:26s} {score}".rstrip())
        else:
            print(f"{printable(entry.name):30s} BROKEN: {printable(entry.error)}")
    return 0


def checkpoint_summary(metadata: dict[str, Any]) -> list[str]:
    """The lines of `info`: name, data, model, training and test results; '?' where absent."""
    config = metadata.get("model_config", {})
    train = metadata.get("train_config") or {}
    history = metadata.get("history") or []
    model = {k: config.get(k, "?") for k in _MODEL_KEYS}
    lines = [
        f"name:        {metadata.get('name', '?')}",
        f"dataset:     {metadata.get('dataset', '?')}",
        f"created:     {metadata.get('created', '?')} (vae {metadata.get('vae_version', '?')})",
    ]
    card = metadata.get("foreign")
    if isinstance(card, dict):
        lines.append(f"model:       imported ONNX graphs, {_card_line(card)}")
    else:
        lines += [
            f"device:      {metadata.get('device', '?')}",
            f"model:       {model['architecture']} hidden {model['hidden']}, latent "
            f"{model['latent_dim']}, {model['likelihood']} likelihood, input "
            f"{model['input_dim']}, " + _posterior_bound(config.get("max_posterior_sigma")),
        ]
    if train:
        shown = ", ".join(f"{k} {train[k]}" for k in _TRAIN_KEYS if k in train)
        lines.append(f"training:    {shown}")
    if config.get("likelihood") == "bernoulli":  # what its numbers are log-probabilities of
        lines.append(f"dynamic_binarization: {trained_binarized(metadata)}")
    epochs = f"{len(history)} epoch(s) trained"
    if metadata.get("interrupted"):
        epochs += " (interrupted)"
    lines.append(f"history:     {epochs}")
    metrics = metadata.get("test_metrics") or {}
    if metrics:
        lines.append(f"test:        {format_metrics(metrics)}")
    note = not_a_likelihood(metadata)
    if note is not None:
        lines.append(f"note:        {note}")
    return lines


def _card_line(card: dict[str, Any]) -> str:
    """A foreign model's conventions, from its card: what `info` says instead of layers."""
    likelihood = card.get("likelihood", "?")
    if likelihood == "gaussian":
        likelihood += f" (sigma {card.get('gaussian_sigma', '?')})"
    return (
        f"latent {card.get('latent_dim', '?')}, input {card.get('input_shape', '?')} in "
        f"{card.get('input_range', '?')}, encoder outputs {card.get('encoder_outputs', '?')}, "
        f"decoder {card.get('decoder_output', '?')}, {likelihood} likelihood, "
        "posterior sigma as the model gives it"
    )


def _posterior_bound(bound: object) -> str:
    return (
        f"posterior sigma <= {bound:g}"
        if isinstance(bound, (int, float))
        else "posterior sigma unbounded"
    )

"""A native model out as ONNX: encoder.onnx, decoder.onnx and card.json (the way out).

The graphs are what VAE.encode and VAE.decode compute, σ's soft bound included, exported with
torch's dynamo exporter at opset 18 with a symbolic batch; importing the three files back
gives the same μ, σ and decodes (tests/test_foreign_export.py checks 1e-5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import DATASET_NAMES
from ..metadata import builtin_dataset
from ..model import VAE
from .card import Card, parse_card

OPSET = 18


class ExportError(ValueError):
    """This model cannot be written in the card's conventions."""


class _Encoder(nn.Module):
    def __init__(self, model: VAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encode(x)


class _Decoder(nn.Module):
    def __init__(self, model: VAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z)


def export_card(model: VAE, metadata: dict[str, Any]) -> Card:
    """The card of a native model: flat input in [0, 1], μ then log σ², Bernoulli logits."""
    config = model.config
    if config.likelihood != "bernoulli":
        raise ExportError(
            "only Bernoulli models can be exported: a card's decoder_output is logits, "
            "probabilities or tanh, and a Gaussian decoder's mean is none of those"
        )
    if config.latent_dim != 2:
        raise ExportError(f"this model has a {config.latent_dim}-D latent; cards are for 2-D ones")
    raw = {
        "latent_dim": 2,
        "input_shape": [config.input_dim],
        "input_range": [0, 1],
        "encoder_outputs": ["mu", "logvar"],
        "decoder_output": "logits",
        "likelihood": "bernoulli",
        "binarized": bool((metadata.get("train_config") or {}).get("dynamic_binarization")),
    }
    dataset = builtin_dataset(metadata, DATASET_NAMES)
    if dataset is not None:
        raw["dataset"] = dataset
    return parse_card(raw, DATASET_NAMES)


def export_onnx(model: VAE, metadata: dict[str, Any], folder: Path) -> list[Path]:
    """Write encoder.onnx, decoder.onnx and card.json into `folder`; returns their paths."""
    if getattr(model, "is_foreign", False):
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / "encoder.onnx", folder / "decoder.onnx", folder / "card.json"]
        for path, data in zip(paths[:2], model.onnx_bytes, strict=True):
            path.write_bytes(data)
        card = {**model.card.to_dict(), "encoder_outputs": list(model.card.kept_outputs)}
        paths[2].write_text(json.dumps(card, indent=2) + "\n")
        return paths
    card = export_card(model, metadata)
    model = model.cpu().eval()
    folder.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1)
    encoder, decoder = folder / "encoder.onnx", folder / "decoder.onnx"
    with torch.no_grad():
        _export(_Encoder(model), torch.rand(3, model.config.input_dim), encoder, ["x"],
                ["mu", "logvar"], batch)  # fmt: skip
        _export(_Decoder(model), torch.randn(3, 2), decoder, ["z"], ["logits"], batch)
    path = folder / "card.json"
    path.write_text(card.to_json())
    return [encoder, decoder, path]


def _export(module: nn.Module, example: torch.Tensor, path: Path, inputs, outputs, batch) -> None:
    program = torch.onnx.export(
        module,
        (example,),
        dynamo=True,
        opset_version=OPSET,
        input_names=inputs,
        output_names=outputs,
        dynamic_shapes=({0: batch},),
        external_data=False,
        verbose=False,
    )
    program.save(str(path), external_data=False)


__all__ = ["ExportError", "export_card", "export_onnx"]

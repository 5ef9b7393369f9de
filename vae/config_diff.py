"""What differs between the recorded configurations of two models.

A comparison of two saved models can only teach what their training recipes make different:
the β page compares two models "by β" only when β is what differs. The fields come from the
checkpoint metadata (vae/metadata.py): the dataset, the model's config and the training config.
Fields that change nothing the model learns (where it ran, how often it was evaluated, what
the replay kept) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Training-config fields that do not change the trained model.
NOT_THE_RECIPE = frozenset({"device", "test_every", "snapshot_latents", "snapshot_size"})


@dataclass(frozen=True)
class Difference:
    field: str  # e.g. "beta", "hidden", "dataset"
    first: Any
    second: Any


def _section(metadata: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = metadata.get(name)
    return dict(value) if isinstance(value, Mapping) else {}


def config_differences(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[Difference]:
    """Every recipe field whose recorded value differs, in a stable order: the dataset, then
    the model's config, then the training config. A field one model does not record counts
    as different (its value None)."""
    differences = []
    if first.get("dataset") != second.get("dataset"):
        differences.append(Difference("dataset", first.get("dataset"), second.get("dataset")))
    for section in ("model_config", "train_config"):
        a, b = _section(first, section), _section(second, section)
        for field in sorted(set(a) | set(b)):
            if section == "train_config" and field in NOT_THE_RECIPE:
                continue
            if a.get(field) != b.get(field):
                differences.append(Difference(field, a.get(field), b.get(field)))
    return differences


__all__ = ["NOT_THE_RECIPE", "Difference", "config_differences"]

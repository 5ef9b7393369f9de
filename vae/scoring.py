"""Which x a model's ELBO, IWAE and log p(x) are log-probabilities of, and the note where they
are of nothing.

A Bernoulli p(x|z) is a distribution over binary x. A model trained with dynamic binarisation
(TrainConfig's default for a Bernoulli likelihood) is scored on binary draws x ~ Bernoulli(grey
levels): its numbers are log-probabilities of those draws, the literature's protocol. The same
likelihood applied to grey levels as they are (an old checkpoint, or a user who turned
binarisation off) does not integrate to 1 over [0, 1]^D: its "log-likelihood" is a
cross-entropy, comparable between such models but not a log-likelihood of the data, and not
comparable with the literature's numbers. (Differences between two bounds on the same x, such as
the approximation gap, stay KL divergences to p(z|x) either way: p(z|x) is defined by p(x|z)
up to the constant.)
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from .train import binarize

NOT_A_LIKELIHOOD = (
    "Not a log-likelihood: a Bernoulli p(x|z) applied to grey levels that were not binarised "
    "(a model trained without dynamic binarisation) is not a normalised distribution of the "
    "data. Its ELBO, IWAE and log p(x) are cross-entropies: comparable between models trained "
    "the same way, not with published log-likelihoods."
)
NOT_A_LIKELIHOOD_SHORT = "not a log-likelihood: Bernoulli on grey levels"  # a table cell


def trained_binarized(metadata: dict[str, Any]) -> bool:
    """Whether the model was trained with dynamic binarisation: its training config says so, or,
    for a model imported as ONNX, its card (`binarized`). A checkpoint without the flag
    predates it and was trained on grey levels."""
    model = metadata.get("model_config")
    if not isinstance(model, dict) or model.get("likelihood") != "bernoulli":
        return False
    foreign = metadata.get("foreign")
    if isinstance(foreign, dict):
        return foreign.get("binarized") is True
    train = metadata.get("train_config")
    return isinstance(train, dict) and train.get("dynamic_binarization") is True


def is_binary(x: np.ndarray | torch.Tensor) -> bool:
    """Every value 0 or 1: a Bernoulli likelihood of these data is a likelihood as it is."""
    values = np.asarray(x)
    return bool(np.all((values == 0) | (values == 1)))


def not_a_likelihood(
    metadata: dict[str, Any], x: np.ndarray | None = None, short: bool = False
) -> str | None:
    """The note to show beside every log p(x), ELBO or IWAE of this model, or None when those
    are log-likelihoods: a Bernoulli p(x|z) trained without binarisation, unless the data `x`
    (when given) are binary already. `short`: a few words for a table cell."""
    model = metadata.get("model_config")
    if not isinstance(model, dict) or model.get("likelihood") != "bernoulli":
        return None
    if trained_binarized(metadata) or (x is not None and is_binary(x)):
        return None
    return NOT_A_LIKELIHOOD_SHORT if short else NOT_A_LIKELIHOOD


def binary_sample(x: np.ndarray, draw: int) -> np.ndarray:
    """Binary sample number `draw` of the example x (D,) of grey levels: x_b ~ Bernoulli(x),
    seeded by x's own values and `draw`, so the same picture and number give the same sample
    on every machine (a link or a scene that names them shows what it showed)."""
    grey = np.ascontiguousarray(x, dtype=np.float32)
    digest = hashlib.blake2b(grey.tobytes() + int(draw).to_bytes(8, "little", signed=True))
    generator = torch.Generator().manual_seed(int.from_bytes(digest.digest()[:8], "little") >> 1)
    return binarize(torch.from_numpy(grey.copy()), generator).numpy()


def scored_example(metadata: dict[str, Any], x: np.ndarray, draw: int) -> np.ndarray:
    """The x whose log p(x) the model is asked for: binary sample `draw` of the grey example x
    for a dynamically binarised model (its likelihood is of binary images), x itself otherwise."""
    return binary_sample(x, draw) if trained_binarized(metadata) else np.asarray(x, np.float32)


def scored_examples(metadata: dict[str, Any], x: np.ndarray, draw: int = 0) -> np.ndarray:
    """scored_example for each row of x (N, D): each example's own sample `draw`."""
    return np.stack([scored_example(metadata, row, draw) for row in np.asarray(x)])


__all__ = [
    "NOT_A_LIKELIHOOD",
    "NOT_A_LIKELIHOOD_SHORT",
    "binary_sample",
    "is_binary",
    "not_a_likelihood",
    "scored_example",
    "scored_examples",
    "trained_binarized",
]

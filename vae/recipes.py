"""Quick, small trainings for the explore pages: a VAE on a 3-D toy manifold, or a pair of VAEs
that differ only in beta. Seconds on a CPU, so pages can run them in-line with a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from .config import EVAL_BINARIZATIONS, ModelConfig, TrainConfig
from .device import cpu_threads
from .metadata import training_metadata
from .model import VAE
from .scoring import trained_binarized
from .train import EpochReport, TrainResult, evaluate, train

MAX_QUICK_TRAIN = 5000  # training examples used by a quick run; the rest would only cost time

# A small MLP fits a 2-D manifold in 3-D well. The Gaussian p(x|z) gets a *fixed* sigma_x of
# 0.1 (data are standardised): with a learned sigma_x the decoder explains the roll as noise
# and the posterior collapses (measured: KL 0.12 nats, a blob instead of an unrolled sheet;
# started at 0.1 it grows to 0.2-0.4 and leaves 2 seeds of 3 folded).
TOY_HIDDEN = (128, 128)
TOY_SIGMA_X = 0.1
# The swiss roll unrolls gradually: the k-NN R² of its position t from the 2-D code climbs
# for hundreds of epochs (SiLU, constant lr 1e-2: 0.47 at epoch 40, 0.88 at 100, 0.96 at 300),
# and the ELBO keeps improving as it does (-10 to -4 nats), so a fold is slow optimisation,
# not a better optimum. Four changes make the climb fast enough to watch, measured over seeds
# 0-9 (bench/swiss_roll_seeds.py, bench/RESULTS.md):
# - ReLU instead of SiLU. At PyTorch's initial weights a SiLU MLP is nearly linear over the
#   standardised data, so the encoder starts as a linear projection (a fold of the roll) and
#   must grow into its curvature; ReLU's kinks are spread over the data from the first step,
#   and the encoder bends the map (t is the radius around the roll's axis) where it must.
# - A learning rate held at its peak for 70 % of the steps, then the cosine decay: the plain
#   cosine shrinks the steps while the roll is still unrolling.
# - Batches of 128: the unrolling advances per step, not per example, so twice the steps for
#   the same examples.
# - KL warm-up over the first 10 epochs (Bowman et al. 2016): the encoder spreads the sheet
#   out for its reconstruction before the prior pulls it into a round blob, where it folds.
TOY_ACTIVATION = "relu"
TOY_TRAIN = TrainConfig(
    epochs=80,
    batch_size=128,
    lr=1e-2,
    decay_fraction=0.3,
    warmup_epochs=10,
    snapshot_latents=False,
    device="cpu",
)
# Two digits models in ~15 s on a busy 2-core CPU (measured 16.6 s at load average 10).
PAIR_TRAIN = TrainConfig(epochs=30, batch_size=128, lr=2e-3, snapshot_latents=False, device="cpu")
PAIR_HIDDEN = (128, 64)


@dataclass
class QuickModel:
    """A trained model and what the pages show about it."""

    model: VAE  # eval() mode
    metadata: dict[str, Any]  # checkpoint metadata (vae/metadata.py)
    result: TrainResult
    test_terms: dict[str, float]  # recon, kl, elbo on the test set (beta = 1)


def quick_model_config(dataset: Any, hidden: tuple[int, ...] = TOY_HIDDEN) -> ModelConfig:
    """An MLP sized for the dataset, with its suggested likelihood and activation (Gaussian
    and TOY_ACTIVATION for the toy manifolds, Bernoulli and SiLU for images)."""
    gaussian = dataset.likelihood == "gaussian"
    return ModelConfig(
        input_dim=int(dataset.x_train.shape[1]),
        image_shape=dataset.image_shape,
        hidden=hidden,
        likelihood=dataset.likelihood,
        gaussian_sigma=TOY_SIGMA_X if gaussian else None,
        activation=TOY_ACTIVATION if gaussian else "silu",
    )


def elbo_terms(
    model: VAE, x_test: np.ndarray, metadata: dict[str, Any], seed: int = 0
) -> dict[str, float]:
    """Mean reconstruction NLL, KL and ELBO (beta = 1) on x_test, with a fixed sampling seed:
    over EVAL_BINARIZATIONS binary draws of x_test for a dynamically binarised model (the x its
    likelihood is of), on x_test as it is otherwise."""
    x = torch.as_tensor(np.asarray(x_test, dtype=np.float32)).to(model.device)
    draws = EVAL_BINARIZATIONS if trained_binarized(metadata) else 0
    return evaluate(model, x, binarizations=draws, seed=seed)


def quick_train(
    dataset: Any,
    name: str,
    beta: float = 1.0,
    config: TrainConfig | None = None,
    hidden: tuple[int, ...] = TOY_HIDDEN,
    max_train: int = MAX_QUICK_TRAIN,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> QuickModel:
    """Train a fresh small VAE on (at most max_train examples of) dataset with the given beta;
    the 3-D page's recipe (TOY_TRAIN, read when called) unless told otherwise."""
    config = replace(config or TOY_TRAIN, beta=float(beta))
    torch.manual_seed(config.seed)  # the same initial weights for the same config and seed
    model = VAE(quick_model_config(dataset, hidden))
    x_train = dataset.x_train[:max_train]
    # Small models train far faster on one thread on a busy 2-core machine: 9 ms per step
    # against 190-270 ms with two threads spinning for each tiny kernel (a 128-128 MLP).
    with cpu_threads(1):
        result = train(model, x_train, dataset.x_test, config, on_epoch=on_epoch)
    model.eval()
    metadata = training_metadata(name, dataset, model, config, result)
    metadata["quick_train"] = {"max_train": int(min(max_train, len(dataset.x_train)))}
    return QuickModel(model, metadata, result, elbo_terms(model, dataset.x_test, metadata))


def train_beta_pair(
    dataset: Any,
    betas: tuple[float, float],
    config: TrainConfig = PAIR_TRAIN,
    hidden: tuple[int, ...] = PAIR_HIDDEN,
    max_train: int = MAX_QUICK_TRAIN,
    on_progress: Callable[[float, str], None] | None = None,
) -> tuple[QuickModel, QuickModel]:
    """Two models with the same data, architecture, seed and schedule; only beta differs."""
    models = []
    for i, beta in enumerate(betas):

        def report(r: EpochReport, i: int = i, beta: float = beta) -> None:
            if on_progress is not None:
                done = (i + r.epoch / r.epochs) / len(betas)
                on_progress(done, f"β = {beta:g}: epoch {r.epoch}/{r.epochs}")

        models.append(
            quick_train(
                dataset,
                f"{dataset.name} β={beta:g}",
                beta=beta,
                config=config,
                hidden=hidden,
                max_train=max_train,
                on_epoch=report,
            )
        )
    return models[0], models[1]


__all__ = [
    "MAX_QUICK_TRAIN",
    "QuickModel",
    "TOY_ACTIVATION",
    "quick_model_config",
    "quick_train",
    "elbo_terms",
    "train_beta_pair",
]

"""How long a training run will take on this machine: a short timed run of the real loop.

The same model, batch size and data as the run, trained for a few steps by `vae.train.train`
itself (so with its thread count and optimiser), then scaled: epochs x (steps per epoch x
seconds per step + the test pass after each epoch). It measures the machine as it is now,
busy or not.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from .config import ModelConfig, TrainConfig
from .model import VAE
from .train import evaluate, train

PROBE_STEPS = 8  # timed optimiser steps; the two before them pay one-off costs
EVAL_SAMPLE = 1024  # test examples timed for the per-epoch test pass


@dataclass(frozen=True)
class StepTiming:
    """Measured costs of one training run's parts on this machine."""

    step_seconds: float  # one optimiser step on one batch
    test_seconds_per_example: float  # the test pass (ELBO terms) after every epoch

    def run_seconds(self, n_train: int, n_test: int, epochs: int, batch_size: int) -> float:
        """Seconds for `epochs` epochs over n_train examples, testing n_test after each."""
        steps = math.ceil(n_train / batch_size)
        return epochs * (steps * self.step_seconds + n_test * self.test_seconds_per_example)


def probe_step_timing(
    model_config: ModelConfig, x: np.ndarray, config: TrainConfig, steps: int = PROBE_STEPS
) -> StepTiming:
    """Time `steps` training steps of a fresh model on rows of x (repeated if too few)."""
    batch = config.batch_size
    rows = np.resize(np.asarray(x, dtype=np.float32), ((steps + 2) * batch, x.shape[1]))  # (R, D)
    quick = replace(config, epochs=1, snapshot_latents=False, warmup_epochs=0)
    torch.manual_seed(config.seed)
    model = VAE(model_config)
    train(model, rows[: 2 * batch], None, quick)  # first steps pay lazy imports and allocations
    start = time.perf_counter()
    train(model, rows[2 * batch :], None, quick)
    step_seconds = (time.perf_counter() - start) / steps
    sample = torch.as_tensor(rows[:EVAL_SAMPLE]).to(model.device)
    start = time.perf_counter()
    evaluate(model, sample)
    per_example = (time.perf_counter() - start) / len(sample)
    return StepTiming(step_seconds, per_example)

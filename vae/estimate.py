"""How long a training run will take on this machine: a short timed run of the real loop.

The same model, batch size and data as the run, trained for a few steps by `vae.train.train`
itself (so with its optimiser and thread policy), then scaled: epochs x (steps per epoch x
seconds per step + the per-epoch test pass and latent snapshot). It measures the machine as it
is now, busy or not; the caller runs it at the run's own CPU priority and thread count.

The trainer polls `should_stop` before every batch, which makes a free per-step clock: the
first steps (lazy initialisation) are left out, then steps are timed over a window of at least
PROBE_SECONDS. A window, not a few steps: a training process at a lower priority on a busy
machine gets a share of the CPU that only shows over many scheduler slices (measured: 12 steps
said 5 s for a swiss-roll run that took 9 s at load average 11-15). The per-epoch test pass is
timed with the trainer's own `epoch_evaluate` (one z per example), not the final metrics'
`evaluate` (ten z per example: a test pass ten times too dear, the main part of the 3.4x
over-estimate of issue #18 on Fashion-MNIST).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from .config import ModelConfig, TrainConfig
from .model import VAE
from .train import epoch_evaluate, train

WARMUP_STEPS = 2  # untimed: the first steps pay lazy imports, allocations and the optimiser's state
PROBE_SECONDS = 1.0  # then steps are timed for at least this long ...
PROBE_STEPS = 12  # ... and at least this many of them
PROBE_BATCHES = 32  # distinct batches the probe cycles through (an epoch of the probe)
EVAL_SAMPLE = 512  # test examples timed for the per-epoch test pass and snapshot
EVAL_REPEATS = 3  # timed test passes over the sample; their median is kept

Clock = Callable[[], float]


@dataclass(frozen=True)
class StepTiming:
    """Measured costs of one training run's parts on this machine."""

    step_seconds: float  # one optimiser step on one batch
    test_seconds_per_example: float  # the test pass (ELBO terms) after every epoch
    snapshot_seconds_per_example: float = 0.0  # encoding the latent snapshot after every epoch

    def epoch_seconds(self, n_train: int, n_test: int, batch_size: int, snapshot: int = 0) -> float:
        """One epoch over n_train examples, then the test pass over n_test and the snapshot."""
        steps = math.ceil(n_train / batch_size)
        return (
            steps * self.step_seconds
            + n_test * self.test_seconds_per_example
            + min(snapshot, n_test) * self.snapshot_seconds_per_example
        )

    def run_seconds(
        self, n_train: int, n_test: int, epochs: int, batch_size: int, snapshot: int = 0
    ) -> float:
        """Seconds for `epochs` epochs over n_train examples, testing n_test after each and
        encoding a snapshot of the first `snapshot` of them."""
        return epochs * self.epoch_seconds(n_train, n_test, batch_size, snapshot)


def probe_step_timing(
    model_config: ModelConfig,
    x: np.ndarray,
    config: TrainConfig,
    clock: Clock = time.perf_counter,
) -> StepTiming:
    """Time training steps of a fresh model on rows of x (repeated if too few): WARMUP_STEPS
    untimed, then at least PROBE_STEPS over at least PROBE_SECONDS; then the per-epoch test pass
    and snapshot on EVAL_SAMPLE rows."""
    batch = config.batch_size
    rows = np.resize(np.asarray(x, dtype=np.float32), (PROBE_BATCHES * batch, x.shape[1]))
    # The run's own options (binarisation, KL warm-up), for as many epochs as the window needs.
    probe = replace(config, epochs=1000, snapshot_latents=False)
    torch.manual_seed(config.seed)
    model = VAE(model_config)
    ticks: list[float] = []  # before each batch: ticks[i] is the end of step i - 1

    def enough() -> bool:  # polled by the trainer before each batch
        ticks.append(clock())
        timed = len(ticks) - 1 - WARMUP_STEPS
        return timed >= PROBE_STEPS and ticks[-1] - ticks[WARMUP_STEPS] >= PROBE_SECONDS

    train(model, rows, None, probe, should_stop=enough)
    timed = len(ticks) - 1 - WARMUP_STEPS
    step_seconds = (ticks[-1] - ticks[WARMUP_STEPS]) / timed
    sample = torch.as_tensor(rows[:EVAL_SAMPLE]).to(model.device)  # (S, D)
    test_seconds = _median_seconds(lambda: epoch_evaluate(model, sample), clock)
    with torch.no_grad():
        snapshot_seconds = _median_seconds(lambda: model.encode(sample), clock)
    return StepTiming(step_seconds, test_seconds / len(sample), snapshot_seconds / len(sample))


def _median_seconds(work: Callable[[], object], clock: Clock) -> float:
    """The median duration of EVAL_REPEATS calls of work()."""
    durations = []
    for _ in range(EVAL_REPEATS):
        start = clock()
        work()
        durations.append(clock() - start)
    return statistics.median(durations)

"""The training-time estimate: a timed probe of the real loop, scaled by closed-form counts.

Its structure is checked against a scripted clock (what it times, what it leaves out, how it
scales); how close it comes to real runs is measured in bench/train_estimate.py.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import vae.estimate as estimate
from vae import ModelConfig, TrainConfig
from vae.estimate import (
    EVAL_REPEATS,
    PROBE_SECONDS,
    PROBE_STEPS,
    WARMUP_STEPS,
    StepTiming,
    probe_step_timing,
)


def test_run_seconds_is_epochs_times_steps_and_the_test_pass() -> None:
    timing = StepTiming(step_seconds=0.01, test_seconds_per_example=1e-5)
    # 1,000 examples in batches of 128: 8 steps (the last one short) per epoch
    expected = 30 * (8 * 0.01 + 500 * 1e-5)
    assert timing.run_seconds(1000, 500, 30, 128) == pytest.approx(expected)
    assert timing.run_seconds(1000, 500, 60, 128) == pytest.approx(2 * expected)
    assert timing.run_seconds(1024, 0, 1, 128) == pytest.approx(8 * 0.01)
    assert timing.run_seconds(1025, 0, 1, 128) == pytest.approx(math.ceil(1025 / 128) * 0.01)


def test_the_probe_measures_positive_costs_even_with_few_rows() -> None:
    x = np.random.default_rng(0).random((50, 16), dtype=np.float32)  # fewer rows than 10 batches
    timing = probe_step_timing(
        ModelConfig(input_dim=16, hidden=(8,)), x, TrainConfig(batch_size=32)
    )
    assert timing.step_seconds > 0 and timing.test_seconds_per_example > 0


def test_a_bigger_model_is_estimated_slower() -> None:
    """Measured side by side: 100x the multiply-adds per step must not look cheaper."""
    x = np.random.default_rng(0).random((256, 64), dtype=np.float32)
    config = TrainConfig(batch_size=128)
    small = probe_step_timing(ModelConfig(input_dim=64, hidden=(8,)), x, config)
    big = probe_step_timing(ModelConfig(input_dim=64, hidden=(1024, 1024)), x, config)
    assert big.step_seconds > small.step_seconds


def test_an_epoch_adds_the_test_pass_and_the_snapshot_to_its_steps() -> None:
    timing = StepTiming(step_seconds=0.02, test_seconds_per_example=1e-4,
                        snapshot_seconds_per_example=5e-5)  # fmt: skip
    # 60,000 examples in batches of 128: 469 steps; 10,000 tested; 2,000 of them encoded
    assert timing.epoch_seconds(60_000, 10_000, 128, 2000) == pytest.approx(
        469 * 0.02 + 10_000 * 1e-4 + 2000 * 5e-5
    )
    assert timing.run_seconds(60_000, 10_000, 20, 128, 2000) == pytest.approx(
        20 * timing.epoch_seconds(60_000, 10_000, 128, 2000)
    )
    assert timing.epoch_seconds(100, 300, 50, 2000) == pytest.approx(2 * 0.02 + 300 * 1.5e-4)


class ScriptedClock:
    """Returns the running sum of the given durations, one per reading."""

    def __init__(self, durations: list[float]) -> None:
        self.readings = itertools.accumulate([1000.0, *durations])
        self.count = 0

    def __call__(self) -> float:
        self.count += 1
        return next(self.readings)


def test_the_probe_times_a_window_of_steps_after_the_warm_up(monkeypatch) -> None:
    """Before: the mean of 8 steps after two, and the test pass timed with `evaluate` (ten z
    samples per example where the trainer's per-epoch pass draws one): 3.4x too high a promise."""
    assert (WARMUP_STEPS, PROBE_STEPS, PROBE_SECONDS) == (2, 12, 1.0)
    # A reading before each batch. The first two steps pay one-off costs. After 10 timed steps
    # the window has 1.1 s but too few steps; after 12 it has both, and the probe stops there.
    steps = [5.0, 3.0] + [0.1] * 9 + [0.2] + [0.1] * 2
    # Then EVAL_REPEATS test passes and as many snapshot encodings, a start and an end each
    # (the time between them is the gap before the next start).
    passes = [0.5, 0.0, 0.2, 0.0, 0.2, 0.0]
    encodes = [0.1, 0.0, 0.05, 0.0, 0.05]
    clock = ScriptedClock(steps + [0.0] + passes + encodes)
    evaluated = []
    monkeypatch.setattr(estimate, "epoch_evaluate",
                        lambda model, x: evaluated.append(len(x)))  # fmt: skip
    x = np.random.default_rng(0).random((2000, 16), dtype=np.float32)
    timing = probe_step_timing(ModelConfig(input_dim=16, hidden=(8,)), x,
                               TrainConfig(batch_size=64), clock=clock)  # fmt: skip
    assert clock.count == 15 + 4 * EVAL_REPEATS, "every reading of the script was used"
    assert timing.step_seconds == pytest.approx(1.3 / 12)  # the window, warm-up left out
    assert evaluated == [512] * EVAL_REPEATS  # the trainer's per-epoch pass, on 512 examples
    assert timing.test_seconds_per_example == pytest.approx(0.2 / 512)
    assert timing.snapshot_seconds_per_example == pytest.approx(0.05 / 512)

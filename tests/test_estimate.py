"""The training-time estimate: a timed probe of the real loop, scaled by closed-form counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vae import ModelConfig, TrainConfig
from vae.estimate import StepTiming, probe_step_timing


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

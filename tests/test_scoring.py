"""vae.scoring: which x a model's numbers are log-likelihoods of, and the note where they are not."""

from __future__ import annotations

import numpy as np

from vae import ModelConfig, TrainConfig
from vae.scoring import (
    NOT_A_LIKELIHOOD,
    binary_sample,
    not_a_likelihood,
    scored_example,
    trained_binarized,
)

BERNOULLI = ModelConfig(input_dim=4).to_dict()
GAUSSIAN = ModelConfig(input_dim=4, likelihood="gaussian").to_dict()


def metadata(model: dict, binarized: bool | None) -> dict:
    train = TrainConfig(dynamic_binarization=bool(binarized)).to_dict()
    if binarized is None:  # a checkpoint from before the flag
        del train["dynamic_binarization"]
    return {"model_config": model, "train_config": train}


def test_the_note_is_for_a_bernoulli_likelihood_of_grey_levels_only():
    grey = np.array([[0.2, 0.7, 1.0, 0.0]], np.float32)
    assert not_a_likelihood(metadata(BERNOULLI, False)) == NOT_A_LIKELIHOOD
    assert not_a_likelihood(metadata(BERNOULLI, None), grey) == NOT_A_LIKELIHOOD  # old checkpoint
    assert not_a_likelihood(metadata(BERNOULLI, False), short=True).startswith("not a log-")
    assert not_a_likelihood(metadata(BERNOULLI, True)) is None
    assert not_a_likelihood(metadata(GAUSSIAN, False)) is None
    # Binary data need no binarisation: their Bernoulli likelihood is one as it is.
    assert not_a_likelihood(metadata(BERNOULLI, False), np.array([[0.0, 1.0]])) is None
    # An imported model's card says how it was trained.
    card = {**metadata(BERNOULLI, None), "foreign": {"binarized": True}}
    assert trained_binarized(card) and not_a_likelihood(card) is None
    assert not trained_binarized({**card, "foreign": {"binarized": False}})


def test_binary_samples_are_reproducible_bernoulli_draws():
    grey = np.linspace(0.0, 1.0, 11, dtype=np.float32)
    first = binary_sample(grey, 3)
    assert np.array_equal(first, binary_sample(grey.copy(), 3))  # same picture, same number
    assert set(np.unique(first)) <= {0.0, 1.0}
    draws = np.stack([binary_sample(grey, d) for d in range(4000)])
    assert not np.array_equal(draws[0], draws[1])
    # Each pixel is 1 with its grey level's probability (binomial s.e. <= 0.008 at n = 4000).
    np.testing.assert_allclose(draws.mean(0), grey, atol=0.035)
    assert draws[:, 0].max() == 0.0 and draws[:, -1].min() == 1.0


def test_a_binarised_model_scores_its_sample_and_a_grey_model_the_grey_levels():
    grey = np.full(8, 0.5, np.float32)
    assert np.array_equal(
        scored_example(metadata(BERNOULLI, True), grey, 0), binary_sample(grey, 0)
    )
    assert np.array_equal(scored_example(metadata(BERNOULLI, False), grey, 0), grey)

"""Configs: validation refuses absurd values with ConfigError, and plain-dict round trips."""

from __future__ import annotations

import json

import pytest

from vae import ConfigError, ModelConfig, TrainConfig


def test_round_trip_through_json() -> None:
    model = ModelConfig(input_dim=784, image_shape=(28, 28), hidden=(300, 100), latent_dim=2)
    train = TrainConfig(epochs=7, lr=5e-4, lr_schedule="constant", warmup_epochs=2)
    toy = ModelConfig(input_dim=3, hidden=(8,), likelihood="gaussian", activation="relu")
    late = TrainConfig(decay_fraction=0.3)
    for config in (model, train, toy, late):
        plain = json.loads(json.dumps(config.to_dict()))
        assert type(config).from_dict(plain) == config


def test_defaults_are_valid_and_documented_choices() -> None:
    config = TrainConfig()
    assert config.lr_schedule == "cosine" and 0 <= config.final_lr_fraction < 1
    assert ModelConfig(input_dim=10).hidden == (512, 256)


def test_bernoulli_models_are_dynamically_binarised_by_default() -> None:
    """The one owner of the default: TrainConfig binarises; only a Bernoulli p(x|z) is trained
    on binary draws, a Gaussian one on its real values."""
    assert TrainConfig().dynamic_binarization is True
    bernoulli = ModelConfig(input_dim=784, image_shape=(28, 28))
    gaussian = ModelConfig(input_dim=3, likelihood="gaussian")
    assert TrainConfig().for_model(bernoulli).dynamic_binarization is True
    assert TrainConfig().for_model(gaussian).dynamic_binarization is False
    grey = TrainConfig(dynamic_binarization=False)
    assert grey.for_model(bernoulli).dynamic_binarization is False


def test_a_saved_config_from_before_the_activation_field_reads_as_silu() -> None:
    plain = ModelConfig(input_dim=3).to_dict()
    del plain["activation"]
    assert ModelConfig.from_dict(plain).activation == "silu"  # what every such model used


def test_a_saved_config_without_the_flag_reads_as_grey_level_training() -> None:
    plain = TrainConfig().to_dict()
    del plain["dynamic_binarization"]
    assert TrainConfig.from_dict(plain).dynamic_binarization is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hidden": (10**6,)},  # absurd width
        {"hidden": (8192,) * 8, "input_dim": 4096},  # each width allowed, too many parameters
        {"hidden": ()},
        {"hidden": (0,)},
        {"hidden": (16,) * 9},
        {"latent_dim": 0},
        {"input_dim": -1},
        {"architecture": "transformer"},
        {"likelihood": "poisson"},
        {"image_shape": (5, 5)},  # does not match input_dim
        {"architecture": "conv"},  # conv needs 28x28 images
        {"likelihood": "gaussian", "gaussian_sigma": -1.0},
        {"latent_dim": True},  # bools are not integers here
        {"activation": "gelu"},
        {"architecture": "conv", "input_dim": 784, "image_shape": (28, 28), "activation": "relu"},
    ],
)
def test_model_config_refuses(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        ModelConfig(**{"input_dim": 64, **kwargs})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 0},
        {"epochs": 10**9},
        {"batch_size": 0},
        {"lr": 0.0},
        {"lr": float("nan")},
        {"lr": 100.0},
        {"lr_schedule": "step"},
        {"final_lr_fraction": 1.5},
        {"decay_fraction": 1.5},
        {"beta": -1.0},
        {"warmup_epochs": -1},
        {"seed": -3},
        {"epochs": 2.5},
    ],
)
def test_train_config_refuses(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        TrainConfig(**kwargs)


def test_from_dict_refuses_unknown_missing_and_wrong_types() -> None:
    with pytest.raises(ConfigError, match="unknown ModelConfig fields.*'depth'"):
        ModelConfig.from_dict({"input_dim": 4, "depth": 3})
    with pytest.raises(ConfigError, match="input_dim"):
        ModelConfig.from_dict({"latent_dim": 2})
    with pytest.raises(ConfigError, match="mapping"):
        TrainConfig.from_dict(["epochs", 3])
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig.from_dict({"epochs": "30"})


def test_config_error_is_a_value_error_with_a_sentence() -> None:
    with pytest.raises(ValueError, match=r"hidden width must be an integer from 1 to \d+"):
        ModelConfig(input_dim=4, hidden=(10**7,))


def test_configs_are_frozen() -> None:
    config = TrainConfig()
    with pytest.raises(AttributeError):
        config.epochs = 3  # type: ignore[misc]

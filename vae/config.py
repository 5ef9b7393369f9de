"""Typed, frozen configs for the model and for training, with validation and plain-dict I/O."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

Architecture = Literal["mlp", "conv"]
Likelihood = Literal["bernoulli", "gaussian"]
Activation = Literal["silu", "relu"]
LrSchedule = Literal["constant", "cosine"]

# Bounds that keep a config (possibly read from an untrusted checkpoint or a URL) from
# asking for absurd allocations: checked *before* any tensor is created.
MAX_INPUT_DIM = 4096 * 4096
MAX_LATENT_DIM = 512
MAX_WIDTH = 8192
MAX_DEPTH = 8
MAX_PARAMETERS = 200_000_000

# The robust test ELBO of vae.train.evaluate: the reconstruction term averaged over this many
# draws of z per example, and a dynamically binarised model scored on this many independent
# binarisations of the test set (one fixed draw can hide an input whose posterior is absurd).
EVAL_Z_SAMPLES = 10
EVAL_BINARIZATIONS = 5


class ConfigError(ValueError):
    """A config value is missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a VAE: the checkpoint stores exactly this."""

    input_dim: int  # D: examples are flattened to (B, D) at the model's boundary
    image_shape: tuple[int, int] | None = None  # (H, W) when the data are images; conv needs it
    latent_dim: int = 2  # 2 so that the latent space can be drawn as it is
    architecture: Architecture = "mlp"  # "conv" is a small CNN for 28x28 images
    hidden: tuple[int, ...] = (512, 256)  # encoder widths; the decoder mirrors them
    likelihood: Likelihood = "bernoulli"  # Bernoulli for pixels in [0, 1], Gaussian otherwise
    # Gaussian p(x|z) only: a fixed observation sigma, or None to learn one sigma per dimension.
    gaussian_sigma: float | None = None
    # Upper bound on every posterior standard deviation, or None for an unbounded sigma. A few
    # prior standard deviations: a bubble can still cover the prior's whole bulk (sigma = 1),
    # but one out-of-distribution input can no longer get sigma ~ 1e11 (KL ~ 1e9 nats) and
    # stretch the latent map's axes. See VAE.encode for the parameterisation.
    max_posterior_sigma: float | None = 3.0
    # The MLP's nonlinearity between layers. SiLU for images; ReLU where a small MLP must bend
    # a map sharply and soon: it unrolls the swiss roll in far fewer steps (vae/recipes.py).
    activation: Activation = "silu"

    def __post_init__(self) -> None:
        _check_int("input_dim", self.input_dim, 1, MAX_INPUT_DIM)
        _check_choice("activation", self.activation, Activation)
        _check_int("latent_dim", self.latent_dim, 1, MAX_LATENT_DIM)
        _check_choice("architecture", self.architecture, Architecture)
        _check_choice("likelihood", self.likelihood, Likelihood)
        if not isinstance(self.hidden, tuple) or not 1 <= len(self.hidden) <= MAX_DEPTH:
            raise ConfigError(f"hidden must be 1 to {MAX_DEPTH} layer widths, got {self.hidden!r}")
        for width in self.hidden:
            _check_int("hidden width", width, 1, MAX_WIDTH)
        if self.image_shape is not None:
            if (
                not isinstance(self.image_shape, tuple)
                or len(self.image_shape) != 2
                or any(not isinstance(s, int) or s < 1 for s in self.image_shape)
            ):
                raise ConfigError(f"image_shape must be (H, W), got {self.image_shape!r}")
            if self.image_shape[0] * self.image_shape[1] != self.input_dim:
                raise ConfigError(
                    f"image_shape {self.image_shape} does not match input_dim {self.input_dim}"
                )
        if self.architecture == "conv" and self.image_shape != (28, 28):
            raise ConfigError("the conv architecture is for 28x28 images; use mlp for other data")
        if self.architecture == "conv" and self.activation != "silu":
            raise ConfigError("the conv architecture uses SiLU; another activation is for mlp")
        if self.gaussian_sigma is not None and not (
            isinstance(self.gaussian_sigma, (int, float)) and 0 < self.gaussian_sigma < 1e3
        ):
            raise ConfigError(f"gaussian_sigma must be positive, got {self.gaussian_sigma!r}")
        if self.max_posterior_sigma is not None:
            _check_float("max_posterior_sigma", self.max_posterior_sigma, 1e-3, 1e3)
        if self.parameter_count() > MAX_PARAMETERS:
            raise ConfigError(
                f"this config has {self.parameter_count():,} parameters, "
                f"more than the limit of {MAX_PARAMETERS:,}"
            )

    def parameter_count(self) -> int:
        """Parameters of the MLP layout (an upper bound for conv): checked before allocating."""
        widths = (self.input_dim, *self.hidden)
        encoder = sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))
        encoder += self.hidden[-1] * 2 * self.latent_dim + 2 * self.latent_dim
        return 2 * encoder + self.input_dim  # decoder mirrors the encoder (+ sigma)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild from to_dict()'s output. A config saved before max_posterior_sigma existed
        has no such key: that model was trained with an unbounded sigma and loads as one."""
        if isinstance(data, dict) and "max_posterior_sigma" not in data:
            data = {**data, "max_posterior_sigma": None}
        return _from_plain(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """How to train; defaults reach good 2-D Fashion-MNIST/MNIST ELBOs in 30 epochs.

    Measured (bench/RESULTS.md, dynamically binarised): Fashion-MNIST, 30 epochs, robust test
    ELBO -254.14 and IW log-likelihood -253.05 (k = 1000, all 10k), vs -256.6 / -253.8 for the
    pytorch/examples baseline.
    """

    epochs: int = 30
    batch_size: int = 128  # small batches = many updates per epoch; what 2-D VAEs need
    lr: float = 2e-3  # Adam's peak learning rate; the cosine decay makes a high peak safe
    # Cosine decay (Loshchilov & Hutter 2017) to lr * final_lr_fraction by the last step: the
    # small steps at the end average out minibatch noise, worth nats of ELBO in a fixed budget.
    lr_schedule: LrSchedule = "cosine"
    final_lr_fraction: float = 0.05
    # The cosine spans the last decay_fraction of the steps; before it the lr holds at its peak
    # ("warmup-stable-decay", Hägele et al. 2024). 1 is the plain cosine. A shorter decay keeps
    # the large steps longer, for trainings whose progress is a slow reshaping of the map (the
    # swiss roll's unrolling), while the decay at the end still averages out minibatch noise.
    decay_fraction: float = 1.0
    beta: float = 1.0  # weight of KL: 1 is the true ELBO, other values give a beta-VAE
    warmup_epochs: int = 0  # KL weight ramps linearly from 0 to beta over these epochs
    # Dynamic binarisation (the literature's protocol for Bernoulli VAEs): each time an example
    # is used, a fresh x ~ Bernoulli(pixels) is drawn, and the test set is scored over such
    # draws. A Bernoulli p(x|z) is a distribution over binary x: on grey levels as they are, its
    # ELBO and log p(x) are not log-likelihoods of anything. For a Bernoulli likelihood only
    # (`for_model` turns it off for a Gaussian one); False reproduces the grey-level training.
    dynamic_binarization: bool = True
    seed: int = 0
    device: str = "auto"  # "auto" picks CUDA, then MPS, then CPU
    test_every: int = 1  # evaluate the test set every this many epochs
    snapshot_latents: bool = True  # keep (mu, sigma) of test examples each epoch for replay
    snapshot_size: int = 2000  # how many test examples a snapshot holds

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, 1, 10_000)
        _check_int("batch_size", self.batch_size, 1, 1_000_000)
        _check_float("lr", self.lr, 1e-7, 10.0)
        _check_choice("lr_schedule", self.lr_schedule, LrSchedule)
        _check_float("final_lr_fraction", self.final_lr_fraction, 0.0, 1.0)
        _check_float("decay_fraction", self.decay_fraction, 0.0, 1.0)
        _check_float("beta", self.beta, 0.0, 1000.0)
        _check_int("warmup_epochs", self.warmup_epochs, 0, 10_000)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("test_every", self.test_every, 1, 10_000)
        _check_int("snapshot_size", self.snapshot_size, 1, 1_000_000)

    def for_model(self, model: ModelConfig) -> TrainConfig:
        """This config as it trains `model`: binarisation applies to a Bernoulli p(x|z) only
        (a Gaussian likelihood is a density over real values, which binary draws are not)."""
        binarize = self.dynamic_binarization and model.likelihood == "bernoulli"
        return replace(self, dynamic_binarization=binarize)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from to_dict()'s output. Without a dynamic_binarization key the config is
        read as a grey-level training (False), the only kind there was before the flag."""
        if isinstance(data, dict) and "dynamic_binarization" not in data:
            data = {**data, "dynamic_binarization": False}
        return _from_plain(cls, data)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _check_float(name: str, value: object, low: float, high: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not low <= float(value) <= high:  # NaN fails both comparisons
        raise ConfigError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")


def _check_choice(name: str, value: object, choices: Any) -> None:
    if value not in get_args(choices):
        raise ConfigError(f"{name} must be one of {get_args(choices)}, got {value!r}")


def _to_plain(config: Any) -> dict[str, Any]:
    return {
        f.name: list(v) if isinstance(v := getattr(config, f.name), tuple) else v
        for f in dataclasses.fields(config)
    }


def _from_plain(cls: Any, data: dict[str, Any]) -> Any:
    """Rebuild a config from JSON-like data; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"a {cls.__name__} must be a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**values)
    except TypeError as error:  # a required field is missing
        raise ConfigError(str(error)) from None


__all__ = ["EVAL_BINARIZATIONS", "EVAL_Z_SAMPLES", "ConfigError", "ModelConfig", "TrainConfig"]

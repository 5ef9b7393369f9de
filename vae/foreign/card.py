"""The card of a foreign model: a small JSON file that declares the conventions of its graphs.

An ONNX graph says which tensors go in and out, not what they mean: whether the encoder's
second output is log σ² or σ, whether the decoder ends in logits or a tanh, whether the
pixels it expects are in [0, 1] or [-1, 1]. Each of those read the wrong way still draws a
picture, a wrong one. The card says it, with exactly these keys:

    {"latent_dim": 2, "input_shape": [1, 28, 28], "input_range": [0, 1],
     "encoder_outputs": ["mu", "logvar"], "decoder_output": "logits",
     "likelihood": "bernoulli", "binarized": true, "dataset": "mnist"}

Pure Python (vae.config has no torch): the upload sandbox reads cards without torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..config import ModelConfig

LATENT_DIM = 2  # the app draws the latent space as it is: a plane
ENCODER_OUTPUTS = ("mu", "logvar", "sigma", "mu_logvar", "logvar_mu", "ignore")
DECODER_OUTPUTS = ("logits", "probs", "tanh")
LIKELIHOODS = ("bernoulli", "gaussian")
RANGES = ((0, 1), (-1, 1))
REQUIRED = ("latent_dim", "input_shape", "input_range", "encoder_outputs", "decoder_output",
            "likelihood", "binarized")  # fmt: skip
OPTIONAL = ("gaussian_sigma", "dataset")
MAX_CARD_BYTES = 64 * 1024
MAX_INPUT_VALUES = 4096 * 4096  # ModelConfig's MAX_INPUT_DIM


class CardError(ValueError):
    """The card is not valid JSON, has keys it should not, or a value out of its choices."""


@dataclass(frozen=True)
class Card:
    latent_dim: int
    input_shape: tuple[int, ...]
    input_range: tuple[int, int]
    encoder_outputs: tuple[str, ...]
    decoder_output: str
    likelihood: str
    binarized: bool
    gaussian_sigma: float | None = None
    dataset: str | None = None

    @property
    def input_dim(self) -> int:
        """D: one example flattened, as the app holds it."""
        return math.prod(self.input_shape)

    @property
    def image_shape(self) -> tuple[int, int] | None:
        """(H, W) when the input is one grey image (HW, CHW with C = 1 or HWC with C = 1)."""
        shape = self.input_shape
        if len(shape) == 2:
            return shape[0], shape[1]
        if len(shape) == 3 and shape[0] == 1:
            return shape[1], shape[2]
        if len(shape) == 3 and shape[2] == 1:
            return shape[0], shape[1]
        if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
            return math.isqrt(shape[0]), math.isqrt(shape[0])
        return None

    @property
    def kept_outputs(self) -> tuple[str, ...]:
        """The encoder outputs the app reads, in order ("ignore" ones are dropped at import)."""
        return tuple(role for role in self.encoder_outputs if role != "ignore")

    def model_config(self) -> ModelConfig:
        """The ModelConfig the rest of the library reads: sizes, likelihood, no σ bound.

        A Gaussian's σ is in the units of the model's input range; the app's pixels are in
        [0, 1], so it is scaled by 1 / (high - low).
        """
        low, high = self.input_range
        sigma = None if self.gaussian_sigma is None else self.gaussian_sigma / (high - low)
        return ModelConfig(
            input_dim=self.input_dim,
            image_shape=self.image_shape,
            latent_dim=LATENT_DIM,
            likelihood=self.likelihood,
            gaussian_sigma=sigma,
            max_posterior_sigma=None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "latent_dim": self.latent_dim,
            "input_shape": list(self.input_shape),
            "input_range": list(self.input_range),
            "encoder_outputs": list(self.encoder_outputs),
            "decoder_output": self.decoder_output,
            "likelihood": self.likelihood,
            "binarized": self.binarized,
        }
        if self.gaussian_sigma is not None:
            out["gaussian_sigma"] = self.gaussian_sigma
        if self.dataset is not None:
            out["dataset"] = self.dataset
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def parse_card(data: bytes | str | dict, builtin_datasets: tuple[str, ...] = ()) -> Card:
    """The card from its JSON text (or an already parsed mapping); CardError saying what to fix.

    builtin_datasets: the names "dataset" may take (vae.data's; passed in so that this module
    stays free of the data package and torch).
    """
    raw = _load(data) if not isinstance(data, dict) else data
    if not isinstance(raw, dict):
        raise CardError('the card must be a JSON object such as {"latent_dim": 2, ...}')
    extra = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if extra:
        raise CardError(
            f"the card has keys it may not have: {', '.join(_short(k) for k in extra)}; "
            f"allowed are {', '.join(REQUIRED + OPTIONAL)}"
        )
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise CardError(f"the card is missing {', '.join(missing)} (see docs/BRING_YOUR_OWN.md)")
    latent = raw["latent_dim"]
    if latent != LATENT_DIM or isinstance(latent, bool):
        raise CardError(
            f"latent_dim is {_short(latent)}: this app draws 2-D latent spaces only; "
            "train your VAE with a 2-D latent to inspect it here"
        )
    shape = raw["input_shape"]
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 3
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape)
    ):
        raise CardError(
            f"input_shape must be the shape of one example without the batch, e.g. [784], "
            f"[1, 28, 28] or [28, 28, 1]; got {_short(shape)}"
        )
    if math.prod(shape) > MAX_INPUT_VALUES:
        raise CardError(f"input_shape {shape} has more than {MAX_INPUT_VALUES:,} values")
    if len(shape) == 3 and 1 not in (shape[0], shape[2]):
        raise CardError(
            f"input_shape {shape} has several channels; the app shows one grey channel, "
            "so give [1, H, W] (NCHW) or [H, W, 1] (NHWC)"
        )
    value_range = raw["input_range"]
    if (
        not isinstance(value_range, list)
        or tuple(value_range) not in RANGES
        or any(isinstance(v, bool) for v in value_range)
    ):
        raise CardError(f"input_range must be [0, 1] or [-1, 1], got {_short(value_range)}")
    outputs = raw["encoder_outputs"]
    if not isinstance(outputs, list) or not outputs or not all(isinstance(o, str) for o in outputs):
        raise CardError('encoder_outputs must be a list of names such as ["mu", "logvar"]')
    unknown = [o for o in outputs if o not in ENCODER_OUTPUTS]
    if unknown:
        raise CardError(
            f"encoder_outputs has {', '.join(_short(o) for o in unknown)}; each output is one of "
            f"{', '.join(ENCODER_OUTPUTS)}"
        )
    _check_roles([o for o in outputs if o != "ignore"])
    decoder = raw["decoder_output"]
    if decoder not in DECODER_OUTPUTS:
        raise CardError(f"decoder_output must be one of {', '.join(DECODER_OUTPUTS)}, "
                        f"got {_short(decoder)}")  # fmt: skip
    likelihood = raw["likelihood"]
    if likelihood not in LIKELIHOODS:
        raise CardError(f"likelihood must be bernoulli or gaussian, got {_short(likelihood)}")
    sigma = raw.get("gaussian_sigma")
    if likelihood == "gaussian":
        if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not 0 < sigma < 1e3:
            raise CardError(
                "a gaussian likelihood needs gaussian_sigma: the decoder's observation "
                f"standard deviation, a number above 0 (got {_short(sigma)})"
            )
        sigma = float(sigma)
    elif sigma is not None:
        raise CardError("gaussian_sigma is for a gaussian likelihood; remove it for bernoulli")
    if likelihood == "bernoulli" and decoder == "tanh":
        raise CardError(
            "a tanh decoder outputs values in [-1, 1], not pixel probabilities: a bernoulli "
            "likelihood needs decoder_output logits or probs"
        )
    binarized = raw["binarized"]
    if not isinstance(binarized, bool):
        raise CardError(f"binarized must be true or false, got {_short(binarized)}")
    dataset = raw.get("dataset")
    if dataset is not None and (not isinstance(dataset, str) or dataset not in builtin_datasets):
        names = ", ".join(builtin_datasets) or "none here"
        raise CardError(f"dataset must be a built-in dataset ({names}) or absent, "
                        f"got {_short(dataset)}")  # fmt: skip
    return Card(
        latent_dim=LATENT_DIM,
        input_shape=tuple(shape),
        input_range=tuple(value_range),
        encoder_outputs=tuple(outputs),
        decoder_output=decoder,
        likelihood=likelihood,
        binarized=binarized,
        gaussian_sigma=sigma,
        dataset=dataset,
    )


def _check_roles(roles: list[str]) -> None:
    """Exactly one μ and one scale among the outputs the app reads."""
    mus = sum(role in ("mu", "mu_logvar", "logvar_mu") for role in roles)
    scales = sum(role in ("logvar", "sigma", "mu_logvar", "logvar_mu") for role in roles)
    if mus != 1 or scales != 1:
        raise CardError(
            f"encoder_outputs {roles} must give μ once and its scale once: "
            '["mu", "logvar"], ["mu", "sigma"], ["mu_logvar"] or ["logvar_mu"], with '
            '"ignore" for any other output (such as a sampled z)'
        )


def _load(data: bytes | str) -> Any:
    if len(data) > MAX_CARD_BYTES:
        raise CardError(f"the card is {len(data):,} bytes; a card is a few lines of JSON")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise CardError(f"the card is not valid JSON ({error})") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else f"{text[:40]}…"


__all__ = ["Card", "CardError", "parse_card"]

"""Run a foreign model's two graphs with onnxruntime, in the app's conventions.

The app holds examples flattened, (B, D) in [0, 1], and wants from an encoder μ and log σ²,
from a decoder what vae.model.VAE.decode returns: Bernoulli logits or the Gaussian mean in
[0, 1]. ForeignGraphs turns the card's conventions into those: the input reshaped (flat,
NCHW or NHWC) and rescaled ([0, 1] or [-1, 1]), the outputs split or reordered, σ turned
into log σ², probabilities and tanh outputs into logits or means. A graph exported with a
fixed batch size is run in slices of that size, the last one padded.

numpy and onnxruntime only: the upload sandbox probes with it without importing torch.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from .card import Card
from .graph import batch_size

# Probabilities are clipped this far from 0 and 1 before the logit: float32 sigmoid(±16.6)
# rounds to 0 or 1, and a logit of ±16.6 keeps log p(x|z) finite where a pixel disagrees.
PROB_EPSILON = 1e-7


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # One thread each: a server shares its cores among every session of a class.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # its errors come back as exceptions, said in our words
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


class ForeignGraphs:
    """The encoder and decoder sessions of one imported model, with its card."""

    def __init__(self, encoder: onnx.ModelProto, decoder: onnx.ModelProto, card: Card) -> None:
        self.card = card
        self.encoder_batch = batch_size(encoder)
        self.decoder_batch = batch_size(decoder)
        self._encoder = _session(encoder)
        self._decoder = _session(decoder)
        self._encoder_in = self._encoder.get_inputs()[0].name
        self._decoder_in = self._decoder.get_inputs()[0].name

    def encoder_raw(self, x: np.ndarray) -> list[np.ndarray]:
        """The encoder graph's outputs for x (B, D) in [0, 1], as it returns them."""
        low, high = self.card.input_range
        feed = (x.astype(np.float32) * (high - low) + low).reshape(-1, *self.card.input_shape)
        return _batched(self._encoder, self._encoder_in, feed, self.encoder_batch)

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x (B, D) in [0, 1] -> μ (B, 2), log σ² (B, 2), float32."""
        return split_posterior(self.encoder_raw(x), self.card)

    def decoder_raw(self, z: np.ndarray) -> np.ndarray:
        """The decoder graph's output for z (B, 2), flattened to (B, D)."""
        out = _batched(self._decoder, self._decoder_in, z.astype(np.float32), self.decoder_batch)
        return out[0].reshape(len(z), -1)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """z (B, 2) -> (B, D): Bernoulli logits, or the Gaussian mean in [0, 1], float32."""
        return decoder_to_app(self.decoder_raw(z), self.card)


def _batched(session, name: str, feed: np.ndarray, fixed: int | None) -> list[np.ndarray]:
    if fixed is None or len(feed) == fixed:
        return session.run(None, {name: np.ascontiguousarray(feed)})
    parts = []
    for start in range(0, len(feed), fixed):
        chunk = feed[start : start + fixed]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - len(chunk), axis=0)])
        parts.append([out[: len(chunk)] for out in session.run(None, {name: padded})])
    return [np.concatenate(outs) for outs in zip(*parts, strict=True)] if parts else []


def split_posterior(outputs: list[np.ndarray], card: Card) -> tuple[np.ndarray, np.ndarray]:
    """The encoder outputs the card keeps -> (μ, log σ²), each (B, 2) float32."""
    mu = logvar = None
    for value, role in zip(outputs, card.kept_outputs, strict=True):
        value = np.asarray(value, dtype=np.float32).reshape(len(value), -1)
        if role == "mu":
            mu = value
        elif role == "logvar":
            logvar = value
        elif role == "sigma":
            with np.errstate(divide="ignore", invalid="ignore"):
                logvar = 2.0 * np.log(value)  # σ = 0 gives -inf: refused by the probes
        elif role == "mu_logvar":
            mu, logvar = value[:, :2], value[:, 2:]
        else:  # logvar_mu
            logvar, mu = value[:, :2], value[:, 2:]
    return mu, logvar


def decoder_to_app(raw: np.ndarray, card: Card) -> np.ndarray:
    """The decoder graph's output -> what VAE.decode returns for the card's likelihood."""
    raw = raw.astype(np.float32, copy=False)
    if card.decoder_output == "tanh":
        mean = (raw + 1.0) / 2.0  # [-1, 1] -> [0, 1], the app's pixel range
    elif card.decoder_output == "probs":
        mean = raw
    else:  # logits
        if card.likelihood == "bernoulli":
            return raw
        mean = 0.5 * (1.0 + np.tanh(0.5 * raw))  # the sigmoid, without exp's overflow
    if card.likelihood == "gaussian":
        return mean
    p = np.clip(mean, PROB_EPSILON, 1.0 - PROB_EPSILON)
    return np.log(p) - np.log1p(-p)


__all__ = ["ForeignGraphs", "decoder_to_app", "split_posterior"]

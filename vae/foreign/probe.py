"""Validate a foreign model before it enters the library: graphs, card, then probes.

validate_foreign() is the whole check, in the order a user would want to hear about problems:
the protobufs (vae/foreign/graph.py), the card against the shapes the graphs declare, then the
graphs run. The probes run the encoder on test images at batch 1 and 7 and the decoder on a
grid, and ask of the outputs: finite, deterministic, of the declared shapes, in the declared
ranges. Then they look for the conventions a card most often gets wrong, each of which would
otherwise draw a wrong picture without a word:

- a decoder whose outputs are not in the range its card declares (probabilities outside
  [0, 1], a "tanh" decoder that never goes below 0, "logits" that all lie in [0, 1]);
- μ and log σ² swapped: the decoder reconstructs x better from the second than from the first;
- an input range that does not match: x rescaled to the other range reconstructs better
  (both judged together: of the four readings, the card's must be about the best);
- a "logvar" that is never negative while σ would be tiny (it is σ itself), or a "sigma" that
  is negative (it is log σ²).

Each refusal says what looks wrong and what the card probably should say. The test images are
the card's dataset when given, otherwise the decoder's own pictures of z ~ N(0, I) (a VAE
encodes those back near their z, whatever the data it was trained on).

numpy, onnx and onnxruntime only: the upload sandbox runs this without importing torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .card import Card
from .graph import (
    GraphError,
    check_declared_shapes,
    check_graph,
    drop_ignored_outputs,
    load_graph,
    parse_graph,
)
from .runtime import ForeignGraphs, decoder_to_app

PROBE_IMAGES = 256
GRID = np.stack(np.meshgrid(np.linspace(-3, 3, 7), np.linspace(-3, 3, 7)), -1).reshape(-1, 2)
# A wrong reading must reconstruct this much worse than the other one to be called wrong.
MARGIN = 0.8
SEED = 0


class ProbeError(GraphError):
    """The graphs run, but not as the card says (or not sensibly at all)."""


@dataclass(frozen=True)
class Validated:
    """A foreign model that passed every check: the graphs as stored, and what the probes saw."""

    encoder: bytes  # without the outputs the card marks "ignore"
    decoder: bytes
    card: Card
    report: dict  # numbers the probes measured (shown after an import)


def validate_foreign(
    encoder: bytes, decoder: bytes, card: Card, images: np.ndarray | None = None
) -> Validated:
    """Every check of an import; GraphError (or its ProbeError) with the sentence to show.

    images: test examples (N, D) in [0, 1] from the card's dataset, or None.
    """
    # An ignored output goes first, with what only it needed (a sampled z's random operator).
    enc_model = check_graph(drop_ignored_outputs(load_graph(encoder, "encoder"), card), "encoder")
    dec_model = parse_graph(decoder, "decoder")
    check_declared_shapes(enc_model, dec_model, card)
    try:
        graphs = ForeignGraphs(enc_model, dec_model, card)
    except Exception as error:  # onnxruntime's own errors: a graph it cannot run
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise GraphError(f"onnxruntime cannot run these graphs ({first}); export with "
                         "opset_version=18 and standard operators") from None  # fmt: skip
    report = _probe(graphs, card, images)
    return Validated(enc_model.SerializeToString(), dec_model.SerializeToString(), card, report)


def _run(what: str, call, *args):
    try:
        return call(*args)
    except GraphError:
        raise
    except Exception as error:  # a shape the graph does not take, an op that fails at run time
        first = str(error).strip().splitlines()[0][:240] if str(error).strip() else ""
        raise ProbeError(f"the {what} failed when run ({type(error).__name__}: {first}); "
                         "check input_shape and the exported batch size") from None  # fmt: skip


def _probe(graphs: ForeignGraphs, card: Card, images: np.ndarray | None) -> dict:
    rng = np.random.default_rng(SEED)
    raw = _probe_decoder(graphs, card)
    if images is None or len(images) == 0:
        z = rng.standard_normal((PROBE_IMAGES, 2)).astype(np.float32)
        images = _to_pixels(decoder_to_app(_run("decoder", graphs.decoder_raw, z), card), card)
        source = "the decoder's pictures of z ~ N(0, I)"
    else:
        pick = rng.choice(len(images), min(PROBE_IMAGES, len(images)), replace=False)
        images = np.asarray(images, dtype=np.float32)[np.sort(pick)]
        source = f"{len(images)} test images of {card.dataset or 'the data'}"
    if images.shape[1] != card.input_dim:
        raise ProbeError(f"the test images have {images.shape[1]} values each and the card's "
                         f"input_shape {list(card.input_shape)} has {card.input_dim}")  # fmt: skip
    outputs = _probe_encoder(graphs, card, images)
    _check_scale(outputs, card)
    mu, logvar = _split(outputs, card)
    error = _reconstruction_error(graphs, card, images, mu)
    _check_reading(graphs, card, images, error)
    sigma = np.exp(0.5 * logvar)
    return {
        "probe_images": source,
        "decoder_range": [float(raw.min()), float(raw.max())],
        "sigma_median": float(np.median(sigma)),
        "sigma_range": [float(sigma.min()), float(sigma.max())],
        "reconstruction_error": float(error),
    }


def _probe_decoder(graphs: ForeignGraphs, card: Card) -> np.ndarray:
    grid = GRID.astype(np.float32)
    first = _run("decoder", graphs.decoder_raw, grid)
    if first.shape != (len(grid), card.input_dim):
        raise ProbeError(f"the decoder returned {first.shape[1]:,} values per example; the "
                         f"card's input_shape has {card.input_dim:,}")  # fmt: skip
    if not np.isfinite(first).all():
        raise ProbeError("the decoder returns NaN or infinite values on the grid z in [-3, 3]²; "
                         "check the exported graph against the model")  # fmt: skip
    if not np.array_equal(first, _run("decoder", graphs.decoder_raw, grid)):
        raise ProbeError("the decoder gives different outputs for the same z: it is not "
                         "deterministic (export it in eval mode, without sampling)")  # fmt: skip
    single = _run("decoder", graphs.decoder_raw, grid[:1])
    if not np.allclose(single, first[:1], rtol=1e-4, atol=1e-5):
        raise ProbeError(
            "the decoder's output for one z depends on the rest of its batch "
            "(batch normalisation in training mode?): export it in eval mode"
        )
    _check_decoder_range(first, card)
    return first


def _check_decoder_range(raw: np.ndarray, card: Card) -> None:
    lo, hi = float(raw.min()), float(raw.max())
    seen = f"its outputs on a grid of z span [{lo:.3g}, {hi:.3g}]"
    tol = 1e-4
    if card.decoder_output == "probs" and (lo < -tol or hi > 1 + tol):
        guess = "tanh" if lo >= -1 - tol and hi <= 1 + tol else "logits"
        raise ProbeError(f'the card says decoder_output "probs", but {seen}: probabilities lie '
                         f'in [0, 1]. It looks like "{guess}"; the card probably should say '
                         f'"decoder_output": "{guess}"')  # fmt: skip
    if card.decoder_output == "tanh":
        if lo < -1 - tol or hi > 1 + tol:
            raise ProbeError(
                f'the card says decoder_output "tanh", but {seen}, outside '
                '[-1, 1]: the card probably should say "decoder_output": "logits"'
            )
        if lo >= -tol:
            raise ProbeError(f'the card says decoder_output "tanh", but {seen}, never '
                             "negative: a tanh decoder of [-1, 1] images is. It looks like "
                             'probabilities; the card probably should say "decoder_output": '
                             '"probs" (and "input_range": [0, 1])')  # fmt: skip
    if card.decoder_output == "logits" and lo >= -tol and hi <= 1 + tol:
        raise ProbeError(
            f'the card says decoder_output "logits", but {seen}, all within '
            "[0, 1]: those are probabilities (logits of a background pixel are "
            'far below 0). The card probably should say "decoder_output": "probs"'
        )


def _probe_encoder(graphs: ForeignGraphs, card: Card, images: np.ndarray) -> list[np.ndarray]:
    seven = images[:7]
    outputs = _run("encoder", graphs.encoder_raw, seven)
    kept = card.kept_outputs
    if len(outputs) != len(kept):
        raise ProbeError(f"the encoder returned {len(outputs)} outputs; the card reads {len(kept)}")
    widths = {"mu": 2, "logvar": 2, "sigma": 2, "mu_logvar": 4, "logvar_mu": 4}
    for value, role in zip(outputs, kept, strict=True):
        if value.shape != (len(seven), widths[role]):
            raise ProbeError(
                f"the encoder's {role} output has shape {value.shape} for a batch "
                f"of {len(seven)}; the card expects ({len(seven)}, {widths[role]})"
            )
    again = _run("encoder", graphs.encoder_raw, seven)
    if not all(np.array_equal(a, b) for a, b in zip(outputs, again, strict=True)):
        raise ProbeError("the encoder gives different outputs for the same image: it is not "
                         "deterministic (export it up to μ and log σ², without sampling z, "
                         "or mark a sampled output \"ignore\")")  # fmt: skip
    one = _run("encoder", graphs.encoder_raw, seven[:1])
    if not all(
        np.allclose(a[:1], b, rtol=1e-4, atol=1e-5) for a, b in zip(outputs, one, strict=True)
    ):
        raise ProbeError(
            "the encoder's output for one image depends on the rest of its batch "
            "(batch normalisation in training mode?): export it in eval mode"
        )
    full = _run("encoder", graphs.encoder_raw, images)
    if not all(np.isfinite(value).all() for value in full):
        raise ProbeError("the encoder returns NaN or infinite values for some test images; check "
                         "input_shape and input_range, and the exported graph")  # fmt: skip
    return full


def _check_scale(outputs: list[np.ndarray], card: Card) -> None:
    for value, role in zip(outputs, card.kept_outputs, strict=True):
        scale = {"logvar": value, "sigma": value, "mu_logvar": value[:, 2:],
                 "logvar_mu": value[:, :2]}.get(role)  # fmt: skip
        if scale is None:
            continue
        lo, hi = float(scale.min()), float(scale.max())
        if role == "sigma" and lo <= 0:
            raise ProbeError(f'the card says "sigma", but that output reaches {lo:.3g} on the '
                             "test images: a standard deviation is positive. It looks like log "
                             'σ²; the card probably should say "logvar"')  # fmt: skip
        if role != "sigma" and lo >= 0 and hi < 1:
            raise ProbeError(
                f"the card reads log σ², but that output is never negative (it "
                f"spans [{lo:.3g}, {hi:.3g}] on the test images): as log σ² every "
                f"σ would be at least 1, while as σ these are tiny posteriors. It "
                'looks like σ itself; the card probably should say "sigma"'
            )


def _split(outputs: list[np.ndarray], card: Card) -> tuple[np.ndarray, np.ndarray]:
    from .runtime import split_posterior

    return split_posterior(outputs, card)


def _to_pixels(decoded: np.ndarray, card: Card) -> np.ndarray:
    """What VAE.decode_mean shows: E[x|z] in [0, 1]."""
    if card.likelihood == "bernoulli":
        return 0.5 * (1.0 + np.tanh(0.5 * decoded))  # the sigmoid, without exp's overflow
    return np.clip(decoded, 0.0, 1.0)


def _reconstruction_error(graphs, card, images: np.ndarray, z: np.ndarray) -> float:
    """Mean absolute pixel error of E[x|z] against x."""
    return float(np.abs(_to_pixels(graphs.decode(z.astype(np.float32)), card) - images).mean())


def _check_reading(graphs, card, images, declared_error: float) -> None:
    """μ/log σ² order and input range together: of the four readings (either range, either
    order), the card's must reconstruct the test images about as well as the best one."""
    low, high = card.input_range
    other_range = [-1, 1] if (low, high) == (0, 1) else [0, 1]
    # ForeignGraphs maps its input from [0, 1] to the card's range; these values make the
    # encoder see the images in the other range instead.
    rescaled = images * 2.0 - 1.0 if (low, high) == (0, 1) else (images + 1.0) / 2.0
    readings = {}
    for ranged, x in ((False, images), (True, rescaled.astype(np.float32))):
        first, second = _split(graphs.encoder_raw(x), card)
        for swapped, z in ((False, first), (True, second)):
            if np.isfinite(z).all():
                readings[ranged, swapped] = _reconstruction_error(graphs, card, images, z)
    (ranged, swapped), best = min(readings.items(), key=lambda item: item[1])
    if best >= MARGIN * declared_error:
        return
    fixes = []
    if swapped:
        fixes.append(f'"encoder_outputs": {json.dumps(_swapped(list(card.encoder_outputs)))}')
    if ranged:
        fixes.append(f'"input_range": {other_range}')
    what = []
    if swapped:
        what.append("from what the card calls log σ² than from what it calls μ (μ and log σ² "
                    "look swapped)")  # fmt: skip
    if ranged:
        what.append(f"with pixels in {other_range} than in {list(card.input_range)} as the "
                    "card says")  # fmt: skip
    raise ProbeError(
        f"the decoder reconstructs the test images better {' and '.join(what)}: mean pixel "
        f"error {best:.3f} against {declared_error:.3f} as the card reads them. The card "
        f"probably should say {' and '.join(fixes)}"
    )


def _swapped(roles: list[str]) -> list[str]:
    """The card's encoder_outputs with μ and its scale trading places."""
    pair = {"mu_logvar": "logvar_mu", "logvar_mu": "mu_logvar"}
    out = [pair.get(role, role) for role in roles]
    if "mu" in out:
        i, j = out.index("mu"), next(k for k, r in enumerate(out) if r in ("logvar", "sigma"))
        out[i], out[j] = out[j], out[i]
    return out


__all__ = ["ProbeError", "Validated", "validate_foreign"]

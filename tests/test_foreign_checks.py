"""Importing a foreign model: every refusal and every wrong-card detection, each with its
message, on graphs built with the onnx.helper API (tests/foreign_graphs.py)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from foreign_graphs import (
    card,
    model_bytes,
    shipped_decoder,
    shipped_encoder,
    tiny_encoder,
    value,
)
from onnx import TensorProto, helper, numpy_helper

from vae.data import DATASET_NAMES, load_dataset
from vae.foreign.card import CardError, parse_card
from vae.foreign.graph import GraphError
from vae.foreign.probe import ProbeError, validate_foreign


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return load_dataset("fashion-mnist").x_test[:2000]


@pytest.fixture(scope="module")
def decoder() -> bytes:
    return shipped_decoder("logits")


def refused(encoder, decoder, the_card, images=None, error=GraphError) -> str:
    with pytest.raises(error) as caught:
        validate_foreign(encoder, decoder, the_card, images)
    return str(caught.value)


# --- the card --------------------------------------------------------------------------------


def test_extra_keys_are_refused_by_name():
    raw = {**card().to_dict(), "latent": 2, "notes": "x"}
    with pytest.raises(CardError, match="may not have: 'latent', 'notes'"):
        parse_card(raw, DATASET_NAMES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"latent_dim": 16}, "2-D latent spaces only"),
        ({"input_range": [0, 255]}, r"input_range must be \[0, 1\] or \[-1, 1\]"),
        ({"input_shape": [3, 28, 28]}, "one grey channel"),
        ({"encoder_outputs": ["mu", "mu"]}, "must give μ once and its scale once"),
        ({"encoder_outputs": ["mean", "logvar"]}, "'mean'; each output is one of"),
        ({"decoder_output": "sigmoid"}, "decoder_output must be one of logits, probs, tanh"),
        ({"likelihood": "gaussian"}, "needs gaussian_sigma"),
        ({"decoder_output": "tanh"}, "bernoulli likelihood needs decoder_output logits or probs"),
        ({"binarized": "yes"}, "binarized must be true or false"),
        ({"dataset": "cifar10"}, "built-in dataset"),
    ],
)
def test_bad_card_values_say_what_to_write(change, message):
    with pytest.raises(CardError, match=message):
        parse_card({**card().to_dict(), **change}, DATASET_NAMES)


def test_a_card_that_is_not_json_or_misses_keys():
    with pytest.raises(CardError, match="not valid JSON"):
        parse_card(b"{latent_dim: 2}", DATASET_NAMES)
    with pytest.raises(CardError, match="missing decoder_output"):
        parse_card({k: v for k, v in card().to_dict().items() if k != "decoder_output"},
                   DATASET_NAMES)  # fmt: skip


# --- static refusals ---------------------------------------------------------------------------


def test_not_an_onnx_file(decoder):
    assert "not an ONNX file" in refused(b"PK\x03\x04 a zip", decoder, card())


def test_external_data_is_refused(decoder):
    model = onnx.load_model_from_string(tiny_encoder())
    tensor = model.graph.initializer[0]
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    tensor.ClearField("float_data")
    tensor.ClearField("raw_data")
    message = refused(model.SerializeToString(), decoder, card())
    assert "in a separate file" in message and "save_as_external_data=False" in message


def test_custom_domain_is_refused(decoder):
    custom = helper.make_node("Mystery", ["x"], ["m"], domain="com.example")
    message = refused(tiny_encoder([custom], domains=["com.example"]), decoder, card())
    assert "custom operator domain 'com.example'" in message
    assert "standard ONNX operators" in message


def test_operator_outside_the_allowlist_is_refused(decoder):
    odd = helper.make_node("Det", ["x"], ["d"])
    message = refused(tiny_encoder([odd]), decoder, card())
    assert "the operator Det" in message and "docs/BRING_YOUR_OWN.md" in message


def test_a_random_operator_feeding_mu_is_refused(decoder):
    b = [helper.make_node("RandomNormalLike", ["x"], ["noise"]),
         helper.make_node("Add", ["x", "noise"], ["noisy"]),
         helper.make_node("MatMul", ["noisy", "w"], ["mu"]),
         helper.make_node("Identity", ["mu"], ["logvar"])]  # fmt: skip
    w = numpy_helper.from_array(np.full((784, 2), 0.001, np.float32), "w")
    encoder = model_bytes(b, [value("x", [None, 784])],
                          [value("mu", [None, 2]), value("logvar", [None, 2])], [w])  # fmt: skip
    message = refused(encoder, decoder, card())
    assert "draws random numbers (RandomNormalLike)" in message
    assert 'mark the sampled output "ignore"' in message


def test_an_ignored_sampled_output_is_dropped_with_its_random_operator(images, decoder):
    """The Keras example's encoder: [z_mean, z_log_var, z] with z = μ + σ ε."""
    model = onnx.load_model_from_string(shipped_encoder("mu,logvar"))
    mu, logvar = (o.name for o in model.graph.output)
    model.graph.node.extend([
        helper.make_node("RandomNormalLike", [mu], ["eps"]),
        helper.make_node("Mul", ["eps", logvar], ["scaled"]),
        helper.make_node("Add", [mu, "scaled"], ["z"]),
    ])  # fmt: skip
    model.graph.output.append(value("z", [None, 2]))
    validated = validate_foreign(model.SerializeToString(), decoder,
                                 card(encoder_outputs=["mu", "logvar", "ignore"]), images)  # fmt: skip
    stored = onnx.load_model_from_string(validated.encoder)
    assert [o.name for o in stored.graph.output] == [mu, logvar]
    assert not any(n.op_type == "RandomNormalLike" for n in stored.graph.node)


def test_an_opset_the_runtime_cannot_run_is_refused(decoder):
    message = refused(tiny_encoder(opset=26), decoder, card())
    assert "needs opset 26" in message and "export with opset_version=18" in message


def test_functions_and_non_float_inputs_are_refused(decoder):
    model = onnx.load_model_from_string(tiny_encoder())
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    assert "is DOUBLE" in refused(model.SerializeToString(), decoder, card())


# --- the card against the graphs' shapes ----------------------------------------------------------


def test_input_shape_that_does_not_match_the_encoder(decoder):
    message = refused(tiny_encoder(), decoder, card(input_shape=[1, 28, 28]))
    assert "the encoder takes (batch, 784)" in message and "set input_shape" in message


def test_a_latent_that_is_not_2d_is_refused(decoder):
    w = numpy_helper.from_array(np.zeros((784, 16), np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mu"]),
             helper.make_node("Identity", ["mu"], ["logvar"])]  # fmt: skip
    encoder = model_bytes(nodes, [value("x", [None, 784])],
                          [value("mu", [None, 16]), value("logvar", [None, 16])], [w])  # fmt: skip
    message = refused(encoder, decoder, card())
    assert "a latent of 16 dimensions: this app draws 2-D latent spaces only" in message


def test_more_outputs_than_the_card_names(decoder):
    message = refused(shipped_encoder("mu,logvar,sigma"), decoder, card())
    assert "the encoder has 3 outputs and the card names 2" in message and '"ignore"' in message


def test_a_decoder_of_the_wrong_size(images):
    nodes = [helper.make_node("MatMul", ["z", "w"], ["y"])]
    w = numpy_helper.from_array(np.zeros((2, 100), np.float32), "w")
    decoder = model_bytes(nodes, [value("z", [None, 2])], [value("y", [None, 100])], [w])
    message = refused(shipped_encoder(), decoder, card(), images)
    assert "100 values per example" in message and "has 784" in message


# --- probes ---------------------------------------------------------------------------------------


def test_a_decoder_that_returns_nan_is_refused(images):
    nodes = [helper.make_node("MatMul", ["z", "w"], ["h"]), helper.make_node("Log", ["h"], ["y"])]
    w = numpy_helper.from_array(np.ones((2, 784), np.float32), "w")  # log of z1 + z2 < 0: NaN
    decoder = model_bytes(nodes, [value("z", [None, 2])], [value("y", [None, 784])], [w])
    message = refused(shipped_encoder(), decoder, card(), images, ProbeError)
    assert "NaN or infinite values on the grid" in message


def test_the_shipped_graphs_with_the_right_card_pass(images, decoder):
    validated = validate_foreign(shipped_encoder(), decoder, card(), images)
    report = validated.report
    assert report["probe_images"] == "256 test images of fashion-mnist"
    assert 0.005 < report["sigma_median"] < 0.5
    assert report["reconstruction_error"] < 0.15


def test_without_a_dataset_the_decoders_own_pictures_are_the_test_images(decoder):
    validated = validate_foreign(shipped_encoder(), decoder, card(dataset=None))
    assert validated.report["probe_images"] == "the decoder's pictures of z ~ N(0, I)"


# --- wrong conventions: what looks wrong, and what the card probably should say ---------------------


def test_swapped_mu_and_logvar_are_caught(images, decoder):
    message = refused(shipped_encoder("logvar,mu"), decoder, card(), images, ProbeError)
    assert "μ and log σ² look swapped" in message
    assert 'probably should say "encoder_outputs": ["logvar", "mu"]' in message
    assert "input_range" not in message


def test_swapped_halves_of_one_tensor_are_caught(images, decoder):
    message = refused(shipped_encoder("logvar_mu"), decoder,
                      card(encoder_outputs=["mu_logvar"]), images, ProbeError)  # fmt: skip
    assert '"encoder_outputs": ["logvar_mu"]' in message


def test_swap_is_caught_without_a_dataset_too(decoder):
    message = refused(shipped_encoder("logvar,mu"), decoder, card(dataset=None), None, ProbeError)
    assert "look swapped" in message


def test_a_logvar_that_is_never_negative_while_sigma_is_tiny(images, decoder):
    message = refused(shipped_encoder("mu,sigma"), decoder, card(), images, ProbeError)
    assert "never negative" in message and 'the card probably should say "sigma"' in message


def test_a_sigma_that_is_negative_is_log_sigma_squared(images, decoder):
    message = refused(shipped_encoder("mu,logvar"), decoder,
                      card(encoder_outputs=["mu", "sigma"]), images, ProbeError)  # fmt: skip
    assert 'the card probably should say "logvar"' in message


def test_probabilities_declared_as_logits(images):
    message = refused(shipped_encoder(), shipped_decoder("probs"), card(), images, ProbeError)
    assert 'probably should say "decoder_output": "probs"' in message


def test_logits_declared_as_probabilities(images, decoder):
    message = refused(shipped_encoder(), decoder, card(decoder_output="probs"), images, ProbeError)
    assert '"decoder_output": "logits"' in message


def test_tanh_declared_as_probabilities(images):
    message = refused(shipped_encoder(), shipped_decoder("tanh"),
                      card(decoder_output="probs"), images, ProbeError)  # fmt: skip
    assert 'It looks like "tanh"' in message


def test_probabilities_declared_as_tanh(images):
    the_card = card(decoder_output="tanh", likelihood="gaussian", gaussian_sigma=0.1)
    message = refused(shipped_encoder(), shipped_decoder("probs"), the_card, images, ProbeError)
    assert "never negative" in message and '"decoder_output": "probs"' in message


def test_a_wrong_input_range_is_caught(images, decoder):
    message = refused(shipped_encoder(), decoder, card(input_range=[-1, 1]), images, ProbeError)
    assert 'probably should say "input_range": [0, 1]' in message
    assert "swapped" not in message


def test_a_wrong_input_range_and_a_swap_at_once(images, decoder):
    the_card = card(input_range=[-1, 1])
    message = refused(shipped_encoder("logvar,mu"), decoder, the_card, images, ProbeError)
    assert '"encoder_outputs": ["logvar", "mu"] and "input_range": [0, 1]' in message


# --- the library file ----------------------------------------------------------------------------


def test_a_library_file_with_a_forbidden_operator_is_refused_at_listing_and_load(
    tmp_path, images, decoder
):
    """A foreign checkpoint copied into the folder by hand gets the same static checks."""
    import json

    from safetensors.numpy import save

    from vae.checkpoint import CheckpointError, load_checkpoint, revalidate_upload
    from vae.foreign.model import ForeignVAE
    from vae.library import ModelLibrary
    from vae.metadata import imported_metadata

    validated = validate_foreign(shipped_encoder(), decoder, card(), images)
    library = ModelLibrary(tmp_path)
    model = ForeignVAE(validated.encoder, validated.decoder, card())
    path = library.save("good", model, imported_metadata("good", card(), validated.report, {}))
    parts = revalidate_upload(path, "good")  # what the upload sandbox hands on
    assert parts["encoder"] == validated.encoder and json.loads(parts["card"]) == card().to_dict()

    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    document = json.loads(path.read_bytes()[8 : 8 + header_len])["__metadata__"]
    odd = tiny_encoder([helper.make_node("Det", ["x"], ["d"])])
    tensors = {"onnx.encoder": np.frombuffer(odd, np.uint8),
               "onnx.decoder": np.frombuffer(validated.decoder, np.uint8)}  # fmt: skip
    (tmp_path / "copied.safetensors").write_bytes(save(tensors, metadata=document))
    with pytest.raises(CheckpointError, match="holds a graph this app does not run: .*Det"):
        load_checkpoint(tmp_path / "copied.safetensors")
    # Listed as broken, with load's reason (it was listed as ok, refused only at load), once
    # per file version like the other corrupt kinds.
    entries = {entry.name: entry for entry in library.list()}
    assert entries["good"].ok
    assert "holds a graph this app does not run" in entries["copied"].error
    assert "Det" in entries["copied"].error


def test_foreign_sigma_is_shown_as_given_but_absurd_values_are_cut(decoder):
    """No soft bound (σ = 5 stays 5, where a native model would give at most 3); σ = e^100
    is cut to 100, σ ≈ 0 to 1e-12, and a NaN stays a NaN (a point without a value)."""
    import torch

    from vae.foreign.model import SIGMA_CEILING, SIGMA_FLOOR, ForeignVAE

    # logvar = x[:, :2] (the first two pixels), mu = 0: σ is whatever the input makes it
    pick = numpy_helper.from_array(np.eye(784, 2, dtype=np.float32), "pick")
    zero = numpy_helper.from_array(np.zeros((784, 2), np.float32), "zero")
    nodes = [helper.make_node("MatMul", ["x", "pick"], ["logvar"]),
             helper.make_node("MatMul", ["x", "zero"], ["mu"])]  # fmt: skip
    encoder = model_bytes(nodes, [value("x", [None, 784])],
                          [value("mu", [None, 2]), value("logvar", [None, 2])], [pick, zero])  # fmt: skip
    model = ForeignVAE(encoder, decoder, card())
    x = torch.zeros(4, 784)
    x[0, :2] = 2 * np.log(5.0)
    x[1, :2] = 200.0
    x[2, :2] = -500.0
    x[3, 0] = float("nan")
    mu, logvar = model.encode(x)
    sigma = torch.exp(0.5 * logvar)
    torch.testing.assert_close(sigma[0], torch.tensor([5.0, 5.0]))
    torch.testing.assert_close(sigma[1], torch.tensor([SIGMA_CEILING] * 2))
    assert torch.allclose(sigma[2], torch.tensor([SIGMA_FLOOR] * 2), rtol=1e-3)
    assert torch.isnan(logvar[3]).all()  # NaN times the matrix: both NaN, neither made finite

"""Static checks of an uploaded ONNX graph, before anything runs it.

ONNX is a graph of named operators, not code: nothing in the file is executed on loading. What
the runtime would do with it is decided by the operators, so only the ones an MLP or conv VAE
uses are accepted, in the standard domain, at an opset the runtime implements; tensors stored
outside the file (a path the file names) and random operators are refused. Each refusal says
what was found and how to export again.

Needs the `onnx` package only (no torch, no runtime): the upload sandbox runs it first.
"""

from __future__ import annotations

import math

import onnx
from onnx import TensorProto

from .card import Card

# The opsets the runtime runs: onnxruntime 1.22 and later implement 7 to 22.
MIN_OPSET, MAX_OPSET = 7, 22
MAX_GRAPH_BYTES = 256 * 1024 * 1024
MAX_NODES = 5000
# What MLP and conv VAEs are made of, as torch, Keras 3 (tf2onnx) and jax2onnx write them.
ALLOWED_OPS = frozenset(
    [
        "Gemm",
        "MatMul",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Neg",
        "Abs",
        "Exp",
        "Log",
        "Sqrt",
        "Pow",
        "Reciprocal",
        "Max",
        "Min",
        "Sum",
        "Mean",
        "Clip",
        "Erf",
        "Relu",
        "LeakyRelu",
        "PRelu",
        "Elu",
        "Selu",
        "Celu",
        "Gelu",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        "Tanh",
        "Softplus",
        "Softsign",
        "Mish",
        "Softmax",
        "LogSoftmax",
        "Conv",
        "ConvTranspose",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "BatchNormalization",
        "InstanceNormalization",
        "LayerNormalization",
        "Resize",
        "Upsample",
        "Pad",
        "Dropout",
        "Reshape",
        "Flatten",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Concat",
        "Split",
        "Slice",
        "Gather",
        "Shape",
        "Size",
        "Expand",
        "Tile",
        "Constant",
        "ConstantOfShape",
        "Identity",
        "Cast",
        "CastLike",
        "Range",
        "Where",
        "Equal",
        "Greater",
        "Less",
        "Not",
        "ReduceMean",
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "Mod",  # Mod, Floor, Ceil: the integer arithmetic of a reshape's target shape
        "Floor",
        "Ceil",
    ]
)
RANDOM_OPS = frozenset(
    {
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
    }  # fmt: skip
)
REEXPORT = "export again with torch.onnx.export(..., opset_version=18) (see docs/BRING_YOUR_OWN.md)"


class GraphError(ValueError):
    """The graph cannot be imported; the message says what was found and how to fix it."""


def parse_graph(data: bytes, role: str) -> onnx.ModelProto:
    """The protobuf of `data` (the `role` graph: "encoder" or "decoder"), checked statically."""
    return check_graph(load_graph(data, role), role)


def load_graph(data: bytes, role: str) -> onnx.ModelProto:
    """The protobuf of `data`, not yet checked (an encoder loses its ignored outputs first)."""
    if len(data) > MAX_GRAPH_BYTES:
        raise GraphError(f"the {role} is {len(data) / 2**20:.0f} MB; at most "
                         f"{MAX_GRAPH_BYTES // 2**20} MB")  # fmt: skip
    try:
        model = onnx.load_model_from_string(data)
    except Exception as error:  # protobuf's DecodeError and friends
        raise GraphError(f"the {role} is not an ONNX file ({type(error).__name__}); "
                         f"{REEXPORT}") from None  # fmt: skip
    if not model.graph.node and not model.graph.output:
        raise GraphError(f"the {role} is not an ONNX file (no graph in it); {REEXPORT}")
    return model


def check_graph(model: onnx.ModelProto, role: str) -> onnx.ModelProto:
    """`model` if it passes every static check; GraphError saying what and how to fix it."""
    _check_opsets(model, role)
    _check_tensors(model, role)
    _check_nodes(model.graph, role)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as error:
        first = str(error).strip().splitlines()[0][:200]
        raise GraphError(f"the {role} is not a valid ONNX graph ({first}); {REEXPORT}") from None
    return model


def _check_opsets(model: onnx.ModelProto, role: str) -> None:
    for opset in model.opset_import:
        if opset.domain not in ("", "ai.onnx"):
            raise GraphError(
                f"the {role} uses the custom operator domain {opset.domain[:60]!r}, which this "
                f"app does not run; export with standard ONNX operators only ({REEXPORT})"
            )
        if not MIN_OPSET <= opset.version <= MAX_OPSET:
            raise GraphError(
                f"the {role} needs opset {opset.version}; this app runs opsets {MIN_OPSET} to "
                f"{MAX_OPSET}: export with opset_version=18"
            )
    if model.functions:
        raise GraphError(f"the {role} defines its own functions; {REEXPORT} (torch's exporter "
                         "inlines them by default)")  # fmt: skip


def _check_tensors(model: onnx.ModelProto, role: str) -> None:
    graph = model.graph
    tensors = list(graph.initializer) + [
        attr.t for node in _all_nodes(graph) for attr in node.attribute if attr.HasField("t")
    ]
    for tensor in tensors:
        if tensor.data_location == TensorProto.EXTERNAL or tensor.external_data:
            raise GraphError(
                f"the {role} keeps its weight {tensor.name[:60]!r} in a separate file; export "
                "with the weights inside the .onnx file (torch: external_data=False; onnx: "
                "onnx.save(model, path, save_as_external_data=False))"
            )
    for value in [*graph.input, *graph.output]:
        elem = value.type.tensor_type.elem_type
        if elem != TensorProto.FLOAT:
            kind = (
                TensorProto.DataType.Name(elem) if elem in TensorProto.DataType.values() else elem
            )
            raise GraphError(
                f"the {role}'s {'input' if value in graph.input else 'output'} {value.name[:60]!r} "
                f"is {kind}; the app feeds and reads float32 tensors: export the model in float32"
            )


def _all_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _all_nodes(attr.g)
            for sub in attr.graphs:
                yield from _all_nodes(sub)


def _check_nodes(graph: onnx.GraphProto, role: str) -> None:
    nodes = list(_all_nodes(graph))
    if len(nodes) > MAX_NODES:
        raise GraphError(f"the {role} has {len(nodes):,} operators; a VAE needs far fewer than "
                         f"{MAX_NODES:,}")  # fmt: skip
    for node in nodes:
        if node.domain not in ("", "ai.onnx"):
            raise GraphError(
                f"the {role} uses {node.op_type[:40]} from the custom operator domain "
                f"{node.domain[:60]!r}, which this app does not run; export with standard "
                f"ONNX operators only ({REEXPORT})"
            )
        if node.op_type in RANDOM_OPS:
            raise GraphError(
                f"the {role} draws random numbers ({node.op_type}), so its outputs change from "
                "run to run: export the encoder up to μ and log σ² (without the sampling of "
                'z), or mark the sampled output "ignore" in the card'
            )
        if node.op_type not in ALLOWED_OPS:
            raise GraphError(
                f"the {role} uses the operator {node.op_type[:40]}, which is not among those "
                "MLP and conv VAEs use (docs/BRING_YOUR_OWN.md lists them); export a plain "
                "encoder/decoder network"
            )


def drop_ignored_outputs(model: onnx.ModelProto, card: Card) -> onnx.ModelProto:
    """The encoder without the outputs the card marks "ignore", and the operators only they
    needed (the Keras example's sampled z and its RandomNormal go with it)."""
    graph = model.graph
    if len(graph.output) != len(card.encoder_outputs):
        raise GraphError(
            f"the encoder has {len(graph.output)} outputs and the card names "
            f"{len(card.encoder_outputs)} (encoder_outputs {list(card.encoder_outputs)}): "
            'give one name per output, "ignore" for those the app should not read'
        )
    keep = [out for out, role in zip(graph.output, card.encoder_outputs, strict=True)
            if role != "ignore"]  # fmt: skip
    if len(keep) == len(graph.output):
        return model
    pruned = onnx.ModelProto()
    pruned.CopyFrom(model)
    needed = {out.name for out in keep}
    nodes = []
    for node in reversed(list(model.graph.node)):
        if any(name in needed for name in node.output):
            nodes.append(node)
            needed.update(name for name in node.input if name)
    del pruned.graph.node[:]
    pruned.graph.node.extend(reversed(nodes))
    del pruned.graph.output[:]
    pruned.graph.output.extend(keep)
    initializers = [t for t in model.graph.initializer if t.name in needed]
    del pruned.graph.initializer[:]
    pruned.graph.initializer.extend(initializers)
    return pruned


def check_declared_shapes(encoder: onnx.ModelProto, decoder: onnx.ModelProto, card: Card) -> None:
    """The card against the shapes the graphs declare (a symbolic dimension matches anything);
    the encoder is the one drop_ignored_outputs returned."""
    enc_in = _shape(encoder.graph.input, "encoder", "input")
    expected = [None, *card.input_shape]
    if len(enc_in) != len(expected) or any(
        a is not None and b is not None and a != b for a, b in zip(enc_in, expected, strict=False)
    ):
        raise GraphError(
            f"the encoder takes {_show(enc_in)} and the card's input_shape says "
            f"{list(card.input_shape)} (that is {_show(expected)} with the batch): set "
            f"input_shape to the encoder's shape without the batch, {_show(enc_in[1:])}"
        )
    widths = {"mu": 2, "logvar": 2, "sigma": 2, "mu_logvar": 4, "logvar_mu": 4}
    for value, role in zip(encoder.graph.output, card.kept_outputs, strict=True):
        shape = _dims(value)
        last = shape[-1] if shape else None
        if shape is not None and (len(shape) != 2 or (last is not None and last != widths[role])):
            latent = last // (2 if role in ("mu_logvar", "logvar_mu") else 1) if last else "?"
            detail = (f"a latent of {latent} dimensions: this app draws 2-D latent spaces only"
                      if isinstance(latent, int) and latent != 2 and len(shape) == 2
                      else f"the card expects (batch, {widths[role]})")  # fmt: skip
            raise GraphError(f"the encoder output {value.name[:60]!r} ({role}) has shape "
                             f"{_show(shape)}: {detail}")  # fmt: skip
    dec_in = _shape(decoder.graph.input, "decoder", "input")
    if len(dec_in) != 2 or dec_in[1] not in (None, 2):
        raise GraphError(
            f"the decoder takes {_show(dec_in)}; it must take z of shape (batch, 2): "
            "this app draws 2-D latent spaces only"
        )
    if len(decoder.graph.output) != 1:
        raise GraphError(f"the decoder has {len(decoder.graph.output)} outputs; export it with "
                         "one, the decoded image (logits, probabilities or tanh)")  # fmt: skip
    dec_out = _dims(decoder.graph.output[0])
    if dec_out is not None and all(d is not None for d in dec_out[1:]):
        size = math.prod(dec_out[1:])
        if size != card.input_dim:
            raise GraphError(
                f"the decoder outputs {_show(dec_out)}, {size:,} values per example, and the "
                f"card's input_shape {list(card.input_shape)} has {card.input_dim:,}"
            )


def _shape(values, role: str, what: str) -> list[int | None]:
    if len(values) != 1:
        raise GraphError(f"the {role} has {len(values)} inputs; export it with one, the "
                         f"{'image' if role == 'encoder' else 'latent z'}")  # fmt: skip
    dims = _dims(values[0])
    if dims is None:
        raise GraphError(f"the {role}'s {what} has no declared shape; export with an example "
                         "input so that the shape is recorded")  # fmt: skip
    return dims


def _dims(value: onnx.ValueInfoProto) -> list[int | None] | None:
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]


def batch_size(model: onnx.ModelProto) -> int | None:
    """The fixed batch size the graph was exported with, None when the batch is symbolic."""
    dims = _dims(model.graph.input[0])
    return dims[0] if dims and dims[0] else None


def _show(shape) -> str:
    if shape is None:
        return "an undeclared shape"
    return "(" + ", ".join("batch" if i == 0 and d is None else ("?" if d is None else str(d))
                           for i, d in enumerate(shape)) + ")"  # fmt: skip


__all__ = ["GraphError", "batch_size", "check_declared_shapes", "check_graph",
           "drop_ignored_outputs", "load_graph", "parse_graph"]  # fmt: skip

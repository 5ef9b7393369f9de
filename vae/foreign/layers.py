"""A foreign decoder as a plain chain of layers, when it is one: what lets the browser decode
a click on the map from its weights, as it does for a native model (ui/components/map_decoder).

An MLP decoder exported from torch, Keras or JAX is a chain: a matrix product with a bias
(Gemm, or MatMul then Add), an activation, again, and at the end maybe a reshape to the image.
decoder_chain() reads such a graph into [(layer, its arrays)] with the layers the browser's
decoder runs, and appends what turns the graph's output into what ForeignVAE.decode returns
(Bernoulli logits, or the Gaussian mean in [0, 1]). Anything else (a convolution, a branch, an
operator outside the chain's few) gives None, and the picture is decoded on the server.

layers: {"op": "linear", "in", "out"} with W (out, in) and b (out,); {"op": "silu"},
{"op": "relu"}, {"op": "tanh"}, {"op": "sigmoid"}, {"op": "softplus"},
{"op": "leaky_relu", "alpha"}, {"op": "affine", "scale", "shift"} (x * scale + shift).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from .card import Card

Layer = tuple[dict, list[np.ndarray]]
_ELEMENTWISE = {"Relu": "relu", "Tanh": "tanh", "Softplus": "softplus"}
_VIEWS = {"Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze"}  # same values, same order


def decoder_chain(graph: onnx.ModelProto, card: Card) -> list[Layer] | None:
    """The decoder as layers ending in what ForeignVAE.decode returns, or None."""
    layers = _chain(graph)
    if layers is None or not any(layer["op"] == "linear" for layer, _ in layers):
        return None
    last = layers[-1][0]["op"] if layers else None
    if card.likelihood == "bernoulli":  # decode returns logits
        if card.decoder_output == "probs":
            if last != "sigmoid":
                return None  # probabilities made some other way: the server clips and inverts
            layers = layers[:-1]
    elif card.decoder_output == "tanh":  # the mean in [0, 1]: (t + 1) / 2
        layers.append(({"op": "affine", "scale": 0.5, "shift": 0.5}, []))
    elif card.decoder_output == "logits":
        layers.append(({"op": "sigmoid"}, []))
    return layers


def _chain(graph: onnx.ModelProto) -> list[Layer] | None:
    g = graph.graph
    if len(g.input) != 1 or len(g.output) != 1:
        return None
    constants = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].HasField("t"):
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in g.node:
        if node.op_type in ("Constant", "Shape"):  # Shape reads no values: a reshape's target
            continue
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    current, end = g.input[0].name, g.output[0].name
    layers: list[Layer] = []
    used: set[int] = set()
    while current != end:
        nodes = consumers.get(current, [])
        step = _step(current, nodes, consumers, constants)
        if step is None:
            return None
        layer, current, taken = step
        if any(id(n) in used for n in taken):
            return None
        used.update(id(n) for n in taken)
        if layer is not None:
            layers.append(layer)
    # Nodes off the chain read no value of it (each chain tensor had exactly the consumers
    # matched), and every weight or bias was a constant: what is left only computes a view's
    # target shape.
    return layers


def _step(current, nodes, consumers, constants):
    """(layer or None, the next tensor, the nodes consumed) for the node(s) reading `current`."""
    if len(nodes) == 2 and {n.op_type for n in nodes} == {"Sigmoid", "Mul"}:  # x * sigmoid(x)
        sig = next(n for n in nodes if n.op_type == "Sigmoid")
        mul = next(n for n in nodes if n.op_type == "Mul")
        if set(mul.input) == {current, sig.output[0]}:
            return ({"op": "silu"}, []), mul.output[0], [sig, mul]
        return None
    if len(nodes) != 1:
        return None
    node = nodes[0]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    op = node.op_type
    if op == "Gemm" and node.input[0] == current and node.input[1] in constants:
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0:
            return None
        w = constants[node.input[1]]
        if w.ndim != 2:
            return None
        w = w if attrs.get("transB", 0) else w.T  # -> (out, in)
        if len(node.input) > 2 and node.input[2]:
            if node.input[2] not in constants or attrs.get("beta", 1.0) != 1.0:
                return None
            b = np.broadcast_to(constants[node.input[2]], (w.shape[0],))
        else:
            b = np.zeros(w.shape[0])
        return _linear(w, b), node.output[0], [node]
    if op == "MatMul" and node.input[0] == current and node.input[1] in constants:
        if constants[node.input[1]].ndim != 2:
            return None
        w = constants[node.input[1]].T
        after = consumers.get(node.output[0], [])
        if len(after) == 1 and after[0].op_type == "Add":
            add = after[0]
            other = [name for name in add.input if name != node.output[0]]
            if len(other) == 1 and other[0] in constants:
                b = np.broadcast_to(constants[other[0]], (w.shape[0],))
                return _linear(w, b), add.output[0], [node, add]
        return _linear(w, np.zeros(w.shape[0])), node.output[0], [node]
    if op in _ELEMENTWISE:
        return ({"op": _ELEMENTWISE[op]}, []), node.output[0], [node]
    if op == "Sigmoid":
        return ({"op": "sigmoid"}, []), node.output[0], [node]
    if op == "LeakyRelu":
        return ({"op": "leaky_relu", "alpha": float(attrs.get("alpha", 0.01))}, []), \
            node.output[0], [node]  # fmt: skip
    if op in _VIEWS and node.input[0] == current:
        return None, node.output[0], [node]
    return None


def _linear(w: np.ndarray, b: np.ndarray) -> Layer:
    w = np.ascontiguousarray(w, dtype=np.float32)
    layer = {"op": "linear", "in": int(w.shape[1]), "out": int(w.shape[0])}
    return layer, [w, np.ascontiguousarray(b, dtype=np.float32)]


__all__ = ["decoder_chain"]

"""Foreign models for the tests: ONNX graphs built with the onnx.helper API, from the weights of
the shipped Fashion-MNIST MLP (so that they reconstruct real images and the convention checks
have something to tell apart), and small builders for graphs that must be refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from vae import ModelLibrary
from vae.data import DATASET_NAMES
from vae.foreign.card import parse_card

ROOT = Path(__file__).resolve().parent.parent
OPSET = 18


def shipped_model():
    return ModelLibrary(ROOT / "pretrained").load("fashion-mnist")


def card(**changes):
    raw = {
        "latent_dim": 2,
        "input_shape": [784],
        "input_range": [0, 1],
        "encoder_outputs": ["mu", "logvar"],
        "decoder_output": "logits",
        "likelihood": "bernoulli",
        "binarized": False,
        "dataset": "fashion-mnist",
    }
    raw.update(changes)
    return parse_card({k: v for k, v in raw.items() if v is not None}, DATASET_NAMES)


def value(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def model_bytes(nodes, inputs, outputs, initializers=(), opset=OPSET, domains=()) -> bytes:
    graph = helper.make_graph(list(nodes), "g", inputs, outputs, list(initializers))
    opsets = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, 1) for d in domains)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model.SerializeToString()


class _Builder:
    """Gemm + SiLU layers from torch Linear weights, as nodes and initializers."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.nodes, self.inits, self.count = prefix, [], [], 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{self.prefix}{stem}{self.count}"

    def linear(self, x: str, layer) -> str:
        w, b = self.name("W"), self.name("b")
        self.inits += [numpy_helper.from_array(layer.weight.detach().numpy(), w),
                       numpy_helper.from_array(layer.bias.detach().numpy(), b)]  # fmt: skip
        out = self.name("h")
        self.nodes.append(helper.make_node("Gemm", [x, w, b], [out], transB=1))
        return out

    def silu(self, x: str) -> str:
        s, out = self.name("s"), self.name("a")
        self.nodes += [helper.make_node("Sigmoid", [x], [s]),
                       helper.make_node("Mul", [x, s], [out])]  # fmt: skip
        return out

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op)
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def const(self, array) -> str:
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name


def _layers(sequential) -> list:
    flat = []
    for m in sequential:
        flat += _layers(m) if isinstance(m, torch.nn.Sequential) else [m]
    return flat


def shipped_encoder(outputs: str = "mu,logvar") -> bytes:
    """The shipped MLP's encoder, with its outputs as named: "mu,logvar", "logvar,mu",
    "mu,sigma", "mu_logvar" (one tensor), "logvar_mu", or "mu,logvar,tiny" (σ/100 as "logvar")."""
    model, _ = shipped_model()
    b = _Builder("e")
    h = "x"
    for layer in _layers(model.encoder_body):
        h = b.linear(h, layer) if isinstance(layer, torch.nn.Linear) else b.silu(h)
    head = b.linear(h, model.encoder_head)
    bound = b.const(np.float32(model.max_logvar))
    mu, raw = b.name("mu"), b.name("raw")
    b.nodes.append(helper.make_node("Split", [head, b.const(np.array([2, 2]))], [mu, raw], axis=1))
    # logvar = bound - softplus(bound - raw): the native soft ceiling
    logvar = b.node("Sub", [bound, b.node("Softplus", [b.node("Sub", [bound, raw])])])
    sigma = b.node("Exp", [b.node("Mul", [logvar, b.const(np.float32(0.5))])])
    named = {"mu": mu, "logvar": logvar, "sigma": sigma,
             "tiny": b.node("Mul", [sigma, b.const(np.float32(0.01))])}  # fmt: skip
    if outputs in ("mu_logvar", "logvar_mu"):
        first, second = (mu, logvar) if outputs == "mu_logvar" else (logvar, mu)
        out_names = [b.node("Concat", [first, second], axis=1)]
        shapes = [[None, 4]]
    else:
        out_names = [named[key] for key in outputs.split(",")]
        shapes = [[None, 2]] * len(out_names)
    finals = []
    for i, name in enumerate(out_names):
        finals.append(f"out{i}")
        b.nodes.append(helper.make_node("Identity", [name], [f"out{i}"]))
    return model_bytes(b.nodes, [value("x", [None, 784])],
                       [value(n, s) for n, s in zip(finals, shapes, strict=True)], b.inits)  # fmt: skip


def shipped_decoder(output: str = "logits") -> bytes:
    """The shipped MLP's decoder ending in "logits", "probs" (sigmoid) or "tanh" (2 p - 1)."""
    model, _ = shipped_model()
    b = _Builder("d")
    h = "z"
    for layer in _layers(model.decoder):
        h = b.linear(h, layer) if isinstance(layer, torch.nn.Linear) else b.silu(h)
    if output in ("probs", "tanh"):
        h = b.node("Sigmoid", [h])
    if output == "tanh":
        h = b.node("Sub", [b.node("Mul", [h, b.const(np.float32(2))]), b.const(np.float32(1))])
    b.nodes.append(helper.make_node("Identity", [h], ["y"]))
    return model_bytes(b.nodes, [value("z", [None, 2])], [value("y", [None, 784])], b.inits)


def tiny_encoder(op_nodes=None, **kwargs) -> bytes:
    """x (B, 784) -> mu, logvar through a few nodes (or `op_nodes` in between)."""
    b = _Builder("t")
    w = b.const(np.full((784, 2), 0.001, np.float32))
    mu = b.node("MatMul", ["x", w])
    nodes = [*b.nodes, *(op_nodes or [])]
    nodes += [helper.make_node("Identity", [mu], ["mu"]),
              helper.make_node("Identity", [mu], ["logvar"])]  # fmt: skip
    return model_bytes(nodes, [value("x", [None, 784])],
                       [value("mu", [None, 2]), value("logvar", [None, 2])], b.inits, **kwargs)  # fmt: skip

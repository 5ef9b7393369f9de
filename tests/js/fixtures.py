"""Payloads the Python side writes, and what torch and numpy make of them, for the `node --test`
suite in this folder (tests/test_js.py writes them to a temporary folder and runs node).

Each case is <name>.bin (the bytes a component receives, made by the app's own payload
functions) and <name>.json (the inputs and the independently computed answers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from runner.frames import frame_bytes
from ui.components.drawing_pad import pad_map, pad_payload
from ui.components.map_decoder import decoder_payload
from ui.components.map_layer import layer_payload
from ui.components.network import pack
from ui.components.scrubber import sprite_sheet
from ui.latent_images import to_image
from vae import VAE, ModelConfig
from vae.latent import decode_latents
from viz.image_input import Framing
from viz.latent_map import BubbleData

ZS = [(0.0, 0.0), (1.5, -2.25), (-3.0, 0.75), (0.1234567, 2.5)]


def _write(folder: Path, name: str, payload: bytes | None, answers: dict) -> None:
    if payload is not None:
        (folder / f"{name}.bin").write_bytes(payload)
    (folder / f"{name}.json").write_text(json.dumps(answers), encoding="utf-8")


def _model(shape, architecture="mlp", likelihood="bernoulli", hidden=(24, 16), **config) -> VAE:
    torch.manual_seed(0)
    d = shape[0] * shape[1]
    return VAE(ModelConfig(input_dim=d, image_shape=shape, hidden=hidden,
                           architecture=architecture, likelihood=likelihood, **config)).eval()  # fmt: skip


def decoders(folder: Path) -> list[str]:
    """The app's decoders through decoder_payload; torch's E[x|z] and the server's grey levels."""
    names = []
    for likelihood, architecture, shape in [
        ("bernoulli", "mlp", (8, 8)),
        ("gaussian", "mlp", (8, 8)),
        ("bernoulli", "conv", (28, 28)),
    ]:
        model = _model(
            shape, architecture, likelihood, hidden=(64, 32) if architecture == "mlp" else (32,)
        )
        expected = decode_latents(model, np.asarray(ZS, dtype=np.float32))
        levels = [
            np.asarray(to_image(x, shape, pixels=max(shape))).ravel().tolist() for x in expected
        ]
        name = f"decoder-{architecture}-{likelihood}"
        _write(folder, name, decoder_payload(model, shape, "map_chart", None),
               {"zs": ZS, "expected": expected.astype(float).tolist(), "levels": levels})  # fmt: skip
        names.append(name)
    return names


def chain(folder: Path) -> str:
    """An imported model's kind of chain: every elementwise op, against torch's own functions."""
    rng = np.random.default_rng(3)
    w = [rng.normal(size=(6, 2)), rng.normal(size=(6, 6)), rng.normal(size=(5, 6))]
    b = [rng.normal(size=6), rng.normal(size=6), rng.normal(size=5)]
    ops = [
        ({"op": "linear", "in": 2, "out": 6}, [w[0], b[0]]),
        ({"op": "relu"}, []),
        ({"op": "linear", "in": 6, "out": 6}, [w[1], b[1]]),
        ({"op": "leaky_relu", "alpha": 0.1}, []),
        ({"op": "tanh"}, []),
        ({"op": "softplus"}, []),
        ({"op": "affine", "scale": 2.5, "shift": -0.75}, []),
        ({"op": "linear", "in": 6, "out": 5}, [w[2], b[2]]),
        ({"op": "sigmoid"}, []),
    ]
    net = pack(ops)
    f = torch.nn.functional
    t = [torch.as_tensor(a, dtype=torch.float32) for a in (*w, *b)]
    z = torch.as_tensor(ZS, dtype=torch.float32)
    h = f.leaky_relu(f.linear(f.relu(f.linear(z, t[0], t[3])), t[1], t[4]), 0.1)
    out = torch.sigmoid(f.linear(f.softplus(torch.tanh(h)) * 2.5 - 0.75, t[2], t[5]))
    payload = frame_bytes(
        {"decoder": net.header(True), "likelihood": "gaussian"}, {"decoder": net.floats}
    )
    _write(folder, "chain", payload, {"zs": ZS, "expected": out.double().tolist()})
    return "chain"


def encoders(folder: Path) -> list[str]:
    """The pad's encoders through pad_payload; torch's mu and sigma of the same inputs."""
    rng = np.random.default_rng(1)
    the_map = pad_map(rng.normal(size=(50, 2)), rng.integers(0, 10, 50), "class")
    framing = Framing(fill=0.75, stroke=0.1)
    names = []
    for name, shape, architecture, extra in [
        ("encoder-mlp", (8, 8), "mlp", {}),
        ("encoder-conv", (28, 28), "conv", {}),
        ("encoder-softclamp", (8, 8), "mlp", {"max_posterior_sigma": 0.3}),
    ]:
        model = _model(
            shape, architecture, hidden=(64, 32) if architecture == "mlp" else (32,), **extra
        )
        if extra:
            with torch.no_grad():  # raw log σ² far above the bound, so that the bound matters
                model.encoder_head.bias[2:] += 4.0
        d = shape[0] * shape[1]
        x = rng.uniform(0, 1, size=(5, d)).astype(np.float32)
        x[0] = 0  # the blank pad
        with torch.no_grad():
            mu, logvar = model.encode(torch.as_tensor(x))
        _write(folder, name, pad_payload(model, shape, framing, the_map),
               {"xs": x.tolist(), "mu": mu.double().tolist(),
                "sigma": torch.exp(0.5 * logvar).double().tolist()})  # fmt: skip
        names.append(name)
    return names


def bubbles(folder: Path) -> str:
    """A view's bubbles through layer_payload; where each visible one lands, by numpy."""
    rng = np.random.default_rng(2)
    n = 400
    data = BubbleData(
        mu=rng.normal(size=(n, 2)).astype(np.float32),
        sigma=rng.uniform(0.001, 0.3, size=(n, 2)).astype(np.float32),
        color=rng.integers(0, 3, n),
        palette=("#1f77b4", "#ff7f0e", "rgb(44, 160, 44)"),
        k=2.0,
    )
    window, box = [-1.0, 1.5, -0.5, 2.0], {"left": 80, "top": 30, "width": 500, "height": 400}
    sx = box["width"] / (window[1] - window[0])
    sy = box["height"] / (window[3] - window[2])
    mu, r = data.mu.astype(np.float64), data.k * data.sigma.astype(np.float64)
    on_screen = (
        (mu[:, 0] + r[:, 0] >= window[0]) & (mu[:, 0] - r[:, 0] <= window[1])
        & (mu[:, 1] + r[:, 1] >= window[2]) & (mu[:, 1] - r[:, 1] <= window[3])
        & ((r[:, 0] * sx >= 1) | (r[:, 1] * sy >= 1))  # under a pixel across: not drawn
    )  # fmt: skip
    cx = box["left"] + (mu[:, 0] - window[0]) * sx
    cy = box["top"] + (window[3] - mu[:, 1]) * sy
    ellipses = np.stack([cx, cy, np.maximum(0.5, r[:, 0] * sx), np.maximum(0.5, r[:, 1] * sy)], 1)
    _write(folder, "bubbles", layer_payload("map_chart", data, True),
           {"window": window, "box": box, "ellipses": ellipses[on_screen].tolist()})  # fmt: skip
    return "bubbles"


def sprite(folder: Path) -> str:
    """The scrubber's sprite sheet: where each frame really is in it, found by search."""
    rng = np.random.default_rng(4)
    frames = rng.uniform(0, 1, size=(11, 6 * 5))
    sheet, columns = sprite_sheet(frames, (6, 5))
    pixels = np.asarray(sheet)
    corners = []
    for x in frames:
        tile = np.asarray(to_image(x, (6, 5), pixels=6))
        found = [(u, v) for v in range(pixels.shape[0] - 5) for u in range(pixels.shape[1] - 4)
                 if np.array_equal(pixels[v : v + 6, u : u + 5], tile)]  # fmt: skip
        corners.append(list(found[0]))
    _write(folder, "sprite", None, {"steps": len(frames), "columns": columns, "w": 5, "h": 6,
                                    "corners": corners})  # fmt: skip
    return "sprite"


def frames(folder: Path) -> str:
    """A frame of every dtype the protocol knows, and its values."""
    arrays = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
        "f64": np.array([np.pi, -1e-300, 1e300]),
        "i64": np.array([-(2**40), 0, 2**40 + 1], dtype=np.int64),
        "u8": np.array([0, 7, 255], dtype=np.uint8),
        "flags": np.array([True, False, True]),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    header = {"kind": "test", "nested": {"a": [1, 2]}, "text": "μ σ ✓"}
    values = {
        k: [str(v) if k == "i64" else v for v in a.ravel().tolist()] for k, a in arrays.items()
    }
    _write(folder, "frame", frame_bytes(header, arrays), {"header": header, "arrays": values})
    return "frame"


def write_fixtures(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    return [*decoders(folder), chain(folder), *encoders(folder), bubbles(folder), sprite(folder),
            frames(folder)]  # fmt: skip

"""A foreign decoder in the browser: a chain of layers (vae/foreign/layers.py) that
ui/components/web/lib/net.js runs, drawing the picture onnxruntime decodes; anything that is
not a chain stays on the server. Reference: ForeignVAE.decode_mean and ui.latent_images.to_image.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from foreign_graphs import card, shipped_decoder, shipped_encoder
from torch import nn

from tests.web_modules import module_page
from ui.components.map_decoder import decoder_payload
from ui.latent_images import to_image
from vae.foreign.model import ForeignVAE
from vae.latent import decode_latents

ZS = [(0.0, 0.0), (1.5, -2.25), (-3.0, 0.75), (0.1234567, 2.5)]


@pytest.fixture(scope="module")
def js_page(browser):
    page = module_page(browser, "map_decoder", "lib/net", "lib/picture")
    yield page
    page.close()


def exported(net: nn.Module) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (torch.randn(3, 2),), buffer, dynamo=False,
                          opset_version=18, input_names=["z"],
                          dynamic_axes={"z": {0: "batch"}})  # fmt: skip
    return buffer.getvalue()


class Scaled(nn.Module):
    def __init__(self, net: nn.Module, scale: float, shift: float) -> None:
        super().__init__()
        self.net, self.scale, self.shift = net, scale, shift

    def forward(self, z):
        return self.net(z) * self.scale + self.shift


def mlp(*layers) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(*layers)


CASES = {
    "the shipped MLP (Gemm, SiLU), logits": (lambda: shipped_decoder("logits"), {}),
    "the shipped MLP ending in a sigmoid, probs": (
        lambda: shipped_decoder("probs"), {"decoder_output": "probs"}),
    "ReLU and LeakyReLU, probs": (
        lambda: exported(mlp(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.LeakyReLU(0.2),
                             nn.Linear(32, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))),
        {"decoder_output": "probs"}),
    "tanh layers, a tanh image, gaussian": (
        lambda: exported(mlp(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 784), nn.Tanh())),
        {"decoder_output": "tanh", "likelihood": "gaussian", "gaussian_sigma": 0.2,
         "input_range": [-1, 1]}),
    "softplus layers, logits, gaussian": (
        lambda: exported(mlp(nn.Linear(2, 16), nn.Softplus(), nn.Linear(16, 784))),
        {"likelihood": "gaussian", "gaussian_sigma": 0.1}),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_browser_picture_matches_the_foreign_decode(js_page, case):
    make, changes = CASES[case]
    the_card = card(**changes)
    model = ForeignVAE(shipped_encoder(), make(), the_card)
    assert model.decoder_chain() is not None
    payload = decoder_payload(model, (28, 28), "map_chart", None)
    levels = js_page.evaluate(
        """([bytes, zs]) => {
          const m = modules.map_decoder.loadDecoder(new Uint8Array(bytes));
          const decode = (z) => modules["lib/net"].expectation(m.ops, m.header.likelihood, z);
          return zs.map(z => Array.from(modules["lib/picture"].greyLevels(decode(z))));
        }""",
        [list(payload), ZS],
    )
    decoded = decode_latents(model, np.asarray(ZS, dtype=np.float32))
    for z, x, got in zip(ZS, decoded, levels, strict=True):
        want = np.asarray(to_image(x, (28, 28), pixels=28), dtype=int).ravel()
        assert np.abs(np.asarray(got) - want).max() <= 1, z  # float32 vs float64 rounding
        assert (np.asarray(got) == want).mean() >= 0.95, z


def test_a_conv_decoder_or_a_probs_decoder_without_sigmoid_is_decoded_on_the_server():
    conv = exported(mlp(nn.Linear(2, 8 * 7 * 7), nn.Unflatten(1, (8, 7, 7)),
                        nn.ConvTranspose2d(8, 1, 4, stride=4), nn.Flatten()))  # fmt: skip
    assert ForeignVAE(shipped_encoder(), conv, card()).decoder_chain() is None
    clipped = exported(Scaled(mlp(nn.Linear(2, 784), nn.Hardsigmoid()), 1.0, 0.0))
    model = ForeignVAE(shipped_encoder(), clipped, card(decoder_output="probs"))
    assert model.decoder_chain() is None
    assert decoder_payload(model, (28, 28), "map_chart", None) is None

"""The decoder in the browser (ui/map_decoder.js) draws the picture torch decodes.

Reference: vae.latent.decode_latents (torch) and ui.latent_images.to_image, the pictures the
server shows. The weights go through ui.map_decoder.decoder_payload, as in the app, and the
JS module runs in headless Chromium (skipped where there is none).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ui.latent_images import to_image
from ui.map_decoder import decoder_ops, decoder_payload
from vae import VAE, ModelConfig
from vae.latent import decode_latents

JS = (Path(__file__).resolve().parents[1] / "ui" / "map_decoder.js").read_text(encoding="utf-8")
ZS = [(0.0, 0.0), (1.5, -2.25), (-3.0, 0.75), (0.1234567, 2.5)]


def _model(likelihood: str, image_shape=(8, 8), architecture="mlp") -> VAE:
    torch.manual_seed(0)
    d = image_shape[0] * image_shape[1]
    config = ModelConfig(
        input_dim=d,
        image_shape=image_shape,
        hidden=(24, 16),
        likelihood=likelihood,
        architecture=architecture,
    )
    return VAE(config).eval()


@pytest.fixture(scope="module")
def js_page(browser):
    page = browser.new_page()
    page.set_content("<html><body></body></html>")
    page.add_script_tag(
        content=JS + "\nwindow.__vx = { parsePayload, decode, greyLevels, pictureURL };",
        type="module",
    )
    page.wait_for_function("window.__vx !== undefined")
    yield page
    page.close()


@pytest.mark.parametrize(
    ("likelihood", "architecture", "shape"),
    [("bernoulli", "mlp", (8, 8)), ("gaussian", "mlp", (8, 8)), ("bernoulli", "conv", (28, 28))],
)
def test_browser_picture_matches_torch_decode(js_page, likelihood, architecture, shape) -> None:
    model = _model(likelihood, shape, architecture)
    payload = decoder_payload(model, shape, "map_chart", None)
    levels, urls = js_page.evaluate(
        """([bytes, zs]) => {
          const m = __vx.parsePayload(new Uint8Array(bytes));
          return [zs.map(z => Array.from(__vx.greyLevels(__vx.decode(m, z)))),
                  zs.map(z => __vx.pictureURL(m, z))];
        }""",
        [list(payload), ZS],
    )
    decoded = decode_latents(model, np.asarray(ZS, dtype=np.float32))  # (Z, D) torch float32
    for z, x, got, url in zip(ZS, decoded, levels, urls, strict=True):
        want = np.asarray(to_image(x, shape, pixels=max(shape)), dtype=int).ravel()  # 1:1
        # float32 (torch) vs float64 (JS) sums: a level may differ by one at a rounding edge
        assert np.abs(np.asarray(got) - want).max() <= 1, z
        assert (np.asarray(got) == want).mean() >= 0.95, z
        shown = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L")
        reference = to_image(x, shape)  # the server's 168 px picture
        assert shown.size == reference.size
        assert np.abs(np.asarray(shown, int) - np.asarray(reference, int)).max() <= 1


def test_payload_carries_every_weight_in_order() -> None:
    model = _model("bernoulli")
    ops = decoder_ops(model)
    assert [op["op"] for op, _ in ops] == ["linear", "silu", "linear", "silu", "linear"]
    assert [a.shape for _, arrays in ops for a in arrays][::2] == [(16, 2), (24, 16), (64, 24)]
    payload = decoder_payload(model, (8, 8), "map_chart", (0.5, -1.0))
    n_floats = sum(a.size for _, arrays in ops for a in arrays)
    assert len(payload) % 4 == 0 and len(payload) >= 4 * n_floats
    tail = np.frombuffer(payload[-4 * n_floats :], dtype="<f4")
    assert np.array_equal(tail[-64:], ops[-1][1][1])  # the last bias, bit for bit
    conv = [op["op"] for op, _ in decoder_ops(_model("bernoulli", (28, 28), "conv"))]
    assert conv.count("conv_transpose") == 2 and conv[-1] == "flatten"


def test_a_decoder_too_big_to_send_stays_on_the_server(monkeypatch) -> None:
    import ui.map_decoder

    model = _model("bernoulli")
    monkeypatch.setattr(ui.map_decoder, "MAX_BROWSER_WEIGHTS", 100)
    assert decoder_payload(model, (8, 8), "map_chart", None) is None

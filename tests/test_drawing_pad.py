"""The drawing pad (ui/components/drawing_pad.py, web/drawing_pad.js): its strokes are framed
like the training images, it draws its μ and sends a drawing once per stroke, and its weights go
once per session and model. (That the browser's μ, σ are torch's is tests/js, under node.)

Reference: VAE.encode (torch) on the same input the browser encodes. The JS module runs in
headless Chromium (skipped where there is none), as the files the app serves (web/).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from runner.frames import read_frame
from tests.web_modules import module_page
from ui.components.drawing_pad import pad_map, pad_payload, server_posterior, upload_input
from ui.components.network import browser_decoder as browser_weights
from ui.components.network import browser_encoder, encoder_ops, posterior_bound
from vae import VAE, ModelConfig
from vae.latent import decode_latents
from viz.image_input import Framing

FRAMING = Framing(fill=0.75, stroke=0.1)


def _model(image_shape=(8, 8), architecture="mlp", seed: int = 0, hidden=(24, 16)) -> VAE:
    torch.manual_seed(seed)
    d = image_shape[0] * image_shape[1]
    config = ModelConfig(
        input_dim=d, image_shape=image_shape, hidden=hidden, architecture=architecture
    )
    return VAE(config).eval()


def _header(payload: bytes) -> dict:
    return read_frame(io.BytesIO(payload))[0]


def _the_map(n: int = 50) -> object:
    rng = np.random.default_rng(0)
    return pad_map(rng.normal(size=(n, 2)), rng.integers(0, 10, n), "class")


@pytest.fixture(scope="module")
def js_page(browser):
    page = module_page(browser, "drawing_pad", "lib/net")
    page.evaluate(
        """() => {
          const pad = modules.drawing_pad;
          const net = modules["lib/net"];
          window.api = { loadPad: pad.loadPad, renderStrokes: pad.renderStrokes,
            mountDrawingPad: pad.default,
            posterior: (p, x) => net.posterior(p.encoder, p.header.encoder.posterior, x),
            decode: (p, z) => net.expectation(p.decoder, p.header.likelihood, z),
            // the posterior the pad drew last (its mark on the performance timeline)
            drawnMu: () => performance.getEntriesByName("vx:pad-update").pop().detail.mu };
        }"""
    )
    yield page
    page.close()


def _inputs(d: int, n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, size=(n, d)).astype(np.float32)
    x[0] = 0  # the blank pad
    x[1] = (rng.uniform(size=d) > 0.7).astype(np.float32)
    return x


def test_a_bounded_log_variance_is_read_off_the_model() -> None:
    torch.manual_seed(0)
    config = ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(24, 16), max_posterior_sigma=0.3)
    model = VAE(config).eval()
    assert posterior_bound(model) == {"kind": "softclamp", "max": 2 * math.log(0.3)}


def test_an_encoder_the_browser_cannot_mirror_stays_on_the_server() -> None:
    class TanhVAE(VAE):  # a bound the browser does not know
        def encode(self, x):
            mu, logvar = super().encode(x)
            return mu, torch.tanh(logvar)

    torch.manual_seed(0)
    model = TanhVAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(24, 16))).eval()
    assert encoder_ops(model) is not None and posterior_bound(model) is None
    assert browser_encoder(model) is None
    header = _header(pad_payload(model, (8, 8), FRAMING, _the_map()))
    assert header["encoder"] is None and header["decoder"] is not None


def test_a_server_encoders_mu_is_drawn_from_the_payload(js_page) -> None:
    class TanhVAE(VAE):
        def encode(self, x):
            mu, logvar = super().encode(x)
            return mu, torch.tanh(logvar)

    torch.manual_seed(0)
    model = TanhVAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(24, 16))).eval()
    x = _inputs(64)[1]
    server = server_posterior(model, x)
    payload = pad_payload(model, (8, 8), FRAMING, _the_map(), server=server)
    seen = js_page.evaluate(
        """(bytes) => {
          const el = document.body.appendChild(document.createElement("div"));
          api.mountDrawingPad({ data: new Uint8Array(bytes), key: "server", parentElement: el,
            setStateValue: () => {}, setTriggerValue: () => {} });
          const root = el.querySelector(".vx-pad");
          const out = [api.drawnMu(), root.querySelector(".vx-pad-note").textContent];
          el.remove();
          return out;
        }""",
        list(payload),
    )
    with torch.no_grad():
        mu, logvar = model.encode(torch.as_tensor(x)[None])
    np.testing.assert_allclose(seen[0], mu[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(server["sigma"], torch.exp(0.5 * logvar[0]).numpy(), rtol=1e-5)
    assert "runs on the server" in seen[1]


def test_weights_go_once_per_session_and_model() -> None:
    model = _model()
    full = pad_payload(model, (8, 8), FRAMING, _the_map())
    encoder, decoder = browser_encoder(model), browser_weights(model)
    sent = {encoder.id, decoder.id}
    head = pad_payload(model, (8, 8), FRAMING, _the_map(), sent=sent)
    assert _header(full)["encoder"]["weights"] and _header(full)["decoder"]["weights"]
    assert not _header(head)["encoder"]["weights"] and not _header(head)["decoder"]["weights"]
    _, arrays = read_frame(io.BytesIO(full))
    assert np.array_equal(arrays["encoder"], encoder.floats)  # bit for bit
    assert np.array_equal(arrays["decoder"], decoder.floats)
    assert len(head) < min(decoder.floats.nbytes, encoder.floats.nbytes)  # header only
    assert browser_encoder(model) is encoder  # once per model object
    with torch.no_grad():  # in place, as an optimizer step would: read again
        model.encoder_head.bias.add_(1.0)
    assert browser_encoder(model).id != encoder.id


def _render(js_page, strokes, shape, framing=FRAMING, pen=1.0) -> np.ndarray:
    got = js_page.evaluate(
        """([strokes, shape, framing, pen]) =>
             Array.from(api.renderStrokes(strokes, shape, framing, pen))""",
        [strokes, list(shape), {"fill": framing.fill, "stroke": framing.stroke}, pen],
    )
    return np.asarray(got).reshape(shape)


def _line(x0, y0, x1, y1, n=20, p=1.0):
    return {"points": [[x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, p] for t in np.linspace(0, 1, n)]}


def test_strokes_are_framed_like_the_training_images(js_page) -> None:
    # A horizontal stroke anywhere on the pad, of any length: its ink (pen included) spans
    # fill x 28 = 21 px, centred, with the pen's width (0.1 x 28 = 2.8 px) in the middle rows.
    for stroke in (_line(0.1, 0.2, 0.5, 0.2), _line(0.3, 0.9, 0.95, 0.9)):
        img = _render(js_page, [stroke], (28, 28))
        assert img.min() >= 0 and img.max() <= 1
        columns = img.sum(0)
        assert columns.sum() / img.max(0).max() == pytest.approx(2.8 * 21, rel=0.12)
        inked = np.flatnonzero(columns > 0.05)
        assert inked[0] + inked[-1] == pytest.approx(27, abs=1)  # centred left-right
        rows = np.flatnonzero(img.sum(1) > 0.05)
        assert rows[0] + rows[-1] == pytest.approx(27, abs=1)  # and up-down
        assert img.sum(1).max() == pytest.approx(21 - 2.8 + 2.8 * 0.785, rel=0.15)


def test_a_small_and_a_large_drawing_of_one_shape_agree(js_page) -> None:
    def square(cx, cy, r):
        corners = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
        return [_line(*a, *b) for a, b in zip(corners, corners[1:] + corners[:1], strict=True)]

    small = _render(js_page, square(0.3, 0.3, 0.05), (28, 28))
    large = _render(js_page, square(0.5, 0.5, 0.4), (28, 28))
    assert np.abs(small - large).max() < 0.05
    # an empty pad is the blank image, and a dot is a centred disc of the pen's width
    assert not _render(js_page, [], (8, 8)).any()
    dot = _render(js_page, [{"points": [[0.2, 0.7, 1.0]]}], (28, 28))
    assert dot.sum() == pytest.approx(math.pi * 1.4**2, rel=0.1)
    assert dot[13:15, 13:15].min() > 0.9


def test_the_pad_shows_the_blank_pads_mu_then_follows_a_stroke(js_page) -> None:
    """Mounted as Streamlit mounts it: the readout, the state value sent at the stroke's end."""
    model = _model((28, 28), hidden=(32,))
    payload = pad_payload(model, (28, 28), FRAMING, _the_map())
    seen = js_page.evaluate(
        """async (bytes) => {
          const el = document.body.appendChild(document.createElement("div"));
          const sent = [];
          api.mountDrawingPad({ data: new Uint8Array(bytes), key: "pad", parentElement: el,
            setStateValue: (k, v) => sent.push([k, v]), setTriggerValue: () => {} });
          const root = el.querySelector(".vx-pad");
          const blank = api.drawnMu();
          const surface = el.querySelector(".vx-pad-surface");
          const r = surface.getBoundingClientRect();
          const fire = (type, fx, fy) => surface.dispatchEvent(new PointerEvent(type, {
            pointerId: 1, pointerType: "mouse", button: 0, bubbles: true,
            clientX: r.left + fx * r.width, clientY: r.top + fy * r.height }));
          fire("pointerdown", 0.5, 0.2);
          for (let i = 1; i <= 10; i++) fire("pointermove", 0.5, 0.2 + 0.06 * i);
          fire("pointerup", 0.5, 0.8);
          await new Promise((done) => setTimeout(done, 200));
          const drawn = api.drawnMu();
          el.remove();
          return { blank, drawn, sent };
        }""",
        list(payload),
    )
    with torch.no_grad():
        blank_mu, _ = model.encode(torch.zeros(1, 784))
    np.testing.assert_allclose(seen["blank"], blank_mu[0].numpy(), rtol=1e-4, atol=1e-5)
    ((name, value),) = seen["sent"]  # one value, at the stroke's end
    assert name == "image" and len(value["x"]) == 784 and value["strokes"] == 1
    x = np.asarray(value["x"], dtype=np.float32)
    assert x.min() >= 0 and x.max() <= 1 and x.reshape(28, 28)[:, 13:15].max() > 0.9
    with torch.no_grad():
        drawn_mu, _ = model.encode(torch.as_tensor(x)[None])
    # what Python was sent (rounded to 4 decimals) encodes to the μ the browser drew
    np.testing.assert_allclose(seen["drawn"], drawn_mu[0].numpy(), rtol=1e-3, atol=1e-3)
    assert not np.allclose(seen["drawn"], seen["blank"])


def test_the_reconstruction_is_the_decoders(js_page) -> None:
    model = _model()
    payload = pad_payload(model, (8, 8), FRAMING, _the_map())
    z = [0.3, -1.2]
    got = js_page.evaluate(
        """([bytes, z]) => Array.from(api.decode(api.loadPad(new Uint8Array(bytes)), z))""",
        [list(payload), z],
    )
    np.testing.assert_allclose(got, decode_latents(model, np.asarray([z]))[0], atol=1e-5)


def test_pad_map_samples_at_most_the_cap() -> None:
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(5000, 2))
    mu[0] = np.nan
    the_map = pad_map(mu, rng.integers(0, 10, 5000), "class")
    assert len(the_map.points) == 1500 and len(the_map.colors) == 1500
    assert np.isfinite(np.asarray(the_map.points)).all()
    x0, x1, y0, y1 = the_map.bounds
    assert x0 < -2 and x1 > 2 and y0 < -2 and y1 > 2


def test_an_upload_is_shown_again_when_uploaded_again() -> None:
    x = np.linspace(0, 1, 64)
    first, again = upload_input(x, "seven.png", "file-1"), upload_input(x, "seven.png", "file-2")
    assert first["x"] == again["x"] and first["id"] != again["id"]  # the pad replaces a drawing
    assert upload_input(x, "seven.png", "file-1")["id"] == first["id"]  # but not on a rerun

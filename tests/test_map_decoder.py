"""The decoder in the browser (ui/components/web/map_decoder.js) draws the picture torch decodes; its
weights go once per session and model (ui/map_decoder.browser_decoder).

Reference: vae.latent.decode_latents (torch) and ui.latent_images.to_image, the pictures the
server shows. The weights go through ui.components.map_decoder.decoder_payload, as in the app, and the
JS module runs in headless Chromium (skipped where there is none). What a session is sent is
read from real script runs (AppTest).
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from runner.frames import read_frame
from tests.web_modules import module_page
from ui.components.assets import WEB
from ui.components.map_decoder import decoder_payload
from ui.components.network import browser_decoder as browser_weights
from ui.components.network import decoder_ops
from ui.latent_images import to_image
from vae import VAE, ModelConfig
from vae.latent import decode_latents

ZS = [(0.0, 0.0), (1.5, -2.25), (-3.0, 0.75), (0.1234567, 2.5)]


def _model(likelihood: str, image_shape=(8, 8), architecture="mlp", seed: int = 0) -> VAE:
    torch.manual_seed(seed)
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
    page = module_page(browser, "map_decoder", "lib/net", "lib/picture", "lib/registry")
    page.evaluate(
        """() => {
          const [m, net, picture] = ["map_decoder", "lib/net", "lib/picture"].map((n) => modules[n]);
          window.api = { loadModel: m.loadDecoder, pictureURL: m.pictureURL, mountDecoder: m.default,
            parsePayload: m.loadDecoder, greyLevels: picture.greyLevels,
            decode: (model, z) => net.expectation(model.ops, model.header.likelihood, z),
            forgetNetworks: () => modules["lib/registry"].store("networks").clear() };
        }"""
    )
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
          const m = api.parsePayload(new Uint8Array(bytes));
          return [zs.map(z => Array.from(api.greyLevels(api.decode(m, z)))),
                  zs.map(z => api.pictureURL(m, z))];
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
    header, arrays = read_frame(io.BytesIO(payload))
    assert header["decoder"]["ops"] == [op for op, _ in ops] and arrays["decoder"].size == n_floats
    assert np.array_equal(arrays["decoder"][-64:], ops[-1][1][1])  # the last bias, bit for bit
    conv = [op["op"] for op, _ in decoder_ops(_model("bernoulli", (28, 28), "conv"))]
    assert conv.count("conv_transpose") == 2 and conv[-1] == "flatten"


def test_a_relu_decoder_runs_in_the_browser_too() -> None:
    torch.manual_seed(0)
    toy = VAE(ModelConfig(input_dim=3, hidden=(8, 8), likelihood="gaussian", activation="relu"))
    ops = [op["op"] for op, _ in decoder_ops(toy)]  # the 3-D page's models (vae/recipes.py)
    assert ops == ["linear", "relu", "linear", "relu", "linear"]


def test_a_decoder_too_big_to_send_stays_on_the_server(monkeypatch) -> None:
    import ui.components.network

    model = _model("bernoulli")
    monkeypatch.setattr(ui.components.network, "MAX_BROWSER_WEIGHTS", 100)
    assert decoder_payload(model, (8, 8), "map_chart", None) is None


def _header(payload: bytes) -> dict:
    """The header's decoder (id, weights, ops) and z."""
    header, _ = read_frame(io.BytesIO(payload))
    return {**header["decoder"], "z": header["z"]}


def test_a_header_only_payload_carries_no_floats() -> None:
    model = _model("bernoulli")
    full = decoder_payload(model, (8, 8), "map_chart", (0.5, -1.0))
    head = decoder_payload(model, (8, 8), "map_chart", (0.5, -1.0), with_weights=False)
    weights = browser_weights(model)
    assert _header(full)["weights"] is True and _header(head)["weights"] is False
    assert _header(full)["id"] == _header(head)["id"] == weights.id
    assert len(full) >= len(head) + weights.floats.nbytes and len(head) < 1000
    assert browser_weights(model) is weights  # computed once per model object
    assert browser_weights(_model("bernoulli", seed=1)).id != weights.id  # by content


def test_weights_changed_in_place_are_read_again() -> None:
    model = _model("bernoulli")
    before = browser_weights(model)
    with torch.no_grad():  # as an optimizer step would
        next(model.decoder.parameters()).add_(1.0)
    after = browser_weights(model)
    assert after.id != before.id and not np.array_equal(after.floats, before.floats)


def test_the_browser_caches_weights_by_id_and_drops_the_oldest(js_page) -> None:
    models = [_model("bernoulli", seed=s) for s in range(6)]
    full = [list(decoder_payload(m, (8, 8), "map_chart", None)) for m in models]
    head = [list(decoder_payload(m, (8, 8), "map_chart", None, with_weights=False)) for m in models]
    found = js_page.evaluate(
        """([full, head]) => {
          api.forgetNetworks();
          const has = (p) => api.loadModel(new Uint8Array(p)).ops !== null;
          const out = [has(head[0])];           // never sent: no weights
          api.loadModel(new Uint8Array(full[0]));
          out.push(has(head[0]));               // sent once: found by its id
          for (const p of full.slice(1, 5)) api.loadModel(new Uint8Array(p));
          out.push(has(head[1]), has(head[0])); // 5 sent, 4 kept: model 0 is the oldest
          return out;
        }""",
        [full, head],
    )
    assert found == [False, True, True, False]
    # a header-only payload decodes with the cached weights exactly as the full one did
    z = [0.25, -1.5]
    same = js_page.evaluate(
        """([full, head, z]) => {
          const a = api.decode(api.loadModel(new Uint8Array(full)), z);
          const b = api.decode(api.loadModel(new Uint8Array(head)), z);
          return a.every((v, i) => v === b[i]);
        }""",
        [full[5], head[5], z],
    )
    assert same


def test_without_its_weights_the_box_stays_empty_and_asks_for_them(js_page) -> None:
    model = _model("bernoulli", seed=7)
    # The run that answers the "need" carries the latest clicked z (the click was recorded on
    # the server before that run); later runs carry whatever z the session holds then.
    full = list(decoder_payload(model, (8, 8), "map_chart", (1.0, 2.0), with_weights=True))
    head = list(decoder_payload(model, (8, 8), "map_chart", (0.5, -1.0), with_weights=False))
    seen = js_page.evaluate(
        """([head, full]) => {
          api.forgetNetworks();
          const asked = [];
          const el = document.body.appendChild(document.createElement("div"));
          const mount = (p) => api.mountDecoder({ data: new Uint8Array(p), key: "t",
            parentElement: el, setTriggerValue: (name, value) => asked.push([name, value]) });
          const look = () => [el.querySelector("img").getAttribute("src"),
                              el.querySelector("figcaption").textContent,
                              el.querySelector(".vx-decoded-placeholder").textContent];
          mount(head);                      // header only, nothing cached
          const empty = look();
          window.dispatchEvent(new CustomEvent("vx-map-click",
            { detail: { target: "map_chart", z: [1, 2] } }));
          const clicked = look();           // still no weights: still no picture
          mount(full);                      // the run that answers brings them
          const shown = look();
          mount(head);                      // and later runs find them here
          const again = look();
          el.remove();
          return { asked, empty, clicked, shown, again };
        }""",
        [head, full],
    )
    assert seen["asked"] == [["need", browser_weights(model).id]]  # once, by id
    assert seen["empty"][0] is None and seen["clicked"][0] is None
    assert "loading" in seen["empty"][2]  # said in the picture's place, not as a broken image
    # the click made while waiting is drawn when the weights come, from the z of the run that
    # brought them (the server's one record of the click), then the header's z on the next mount
    assert seen["shown"][0].startswith("data:image/png") and "(1.000, 2.000)" in seen["shown"][1]
    assert seen["again"][0].startswith("data:image/png") and "(0.500, -1.000)" in seen["again"][1]


def _session_script(models: dict) -> None:
    """A page with only the browser decoder: model and z from session state."""
    import streamlit as st

    from ui.components.map_decoder import browser_decoder
    from ui.session_keys import init_state

    init_state()  # as app.py does on every run
    model = models[st.session_state.get("which", "a")]
    browser_decoder(model, (8, 8), "map_chart", st.session_state.get("z"), key="map_decoded")


@pytest.fixture
def session():
    models = {"a": _model("bernoulli"), "b": _model("bernoulli", seed=1)}
    return lambda: AppTest.from_function(_session_script, kwargs={"models": models}), models


def _sent(at: AppTest) -> bytes:
    (decoder,) = [c for c in at.get("bidi_component") if c.key == "map_decoded"]
    return decoder.proto.bytes


def test_a_session_is_sent_each_model_once(session) -> None:
    new_session, models = session
    at = new_session().run()
    first = _sent(at)
    n_bytes = browser_weights(models["a"]).floats.nbytes
    assert _header(first)["weights"] and len(first) >= n_bytes
    at.session_state["z"] = (0.5, -1.0)  # a click, then any full run of the page
    second = _sent(at.run())
    assert not _header(second)["weights"] and len(second) < n_bytes / 10
    assert _header(second)["z"] == [0.5, -1.0] and _header(second)["id"] == _header(first)["id"]
    at.session_state["which"] = "b"  # another model: its weights go
    assert _header(_sent(at.run()))["weights"]
    at.session_state["which"] = "a"  # back to the first: the browser has it
    assert not _header(_sent(at.run()))["weights"]
    # a new session (another browser) gets the weights again
    assert _header(_sent(new_session().run()))["weights"]


def test_the_element_names_its_module_and_carries_no_code(session) -> None:
    """Each run re-sends the element (for the map layer, each click): its JavaScript goes once,
    as a file the browser fetches from the components' asset_dir (ui/components/assets.py)."""
    new_session, _ = session
    at = new_session().run()
    (element,) = [c for c in at.get("bidi_component") if c.key == "map_decoded"]
    assert element.proto.js_content == "" and element.proto.js_source_path == "map_decoder.js"
    assert element.proto.component_name == "vae_explorer.map_decoder"
    assert (WEB / element.proto.js_source_path).is_file()  # what the server serves


def test_the_browsers_need_trigger_brings_the_weights_again(session) -> None:
    new_session, _ = session
    at = new_session().run()
    at.run()
    header = _header(_sent(at))
    assert not header["weights"]
    # What map_decoder.js does when it lacks the weights: setTriggerValue("need", id). AppTest
    # has no way to drive a component's trigger, so the widget state is the one the browser
    # sends: the component's trigger aggregator with a "need" event.
    (decoder,) = [c for c in at.get("bidi_component") if c.key == "map_decoded"]
    states = at._tree.get_widget_states()
    need = WidgetState(id=_make_trigger_id(decoder.proto.id, "events"))
    need.json_trigger_value = json.dumps([{"event": "need", "value": header["id"]}])
    states.widgets.append(need)
    at._run(states)
    assert not at.exception
    assert _header(_sent(at))["weights"]
    assert not _header(_sent(at.run()))["weights"]  # and only on that run

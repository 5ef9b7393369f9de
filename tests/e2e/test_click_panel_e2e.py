"""A click on the latent map is answered by the browser alone (issue 21), on the shipped
Fashion-MNIST model in Chromium.

A click on a test point shows its original, its reconstruction, mu, sigma, KL and the decodes
of z = mu + sigma * eps, with their dots on the map, before any websocket message goes either
way (Playwright's page.on("websocket") sees every frame). Each number is checked against an
independent computation: the original against the dataset file's pixels, mu and sigma against
the shipped model's own encoder, KL against its closed form, the samples against
ui.latent_panel.epsilon, the reconstruction against the model's decoder. The server hears of
the click later (debounced), and at once when the student presses anything else: a link made
right after the click restores the clicked point in a fresh browser.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from tests.e2e.driver import (
    CLICK_PANEL,
    click_panel_shown,
    exceptions,
    keyed_graph,
    lonely_points,
    open_shipped_fashion,
    to_page,
)
from tests.web_modules import last_mark
from ui.components.click_panel import NOTICE_DELAY_MS
from ui.latent_panel import N_SAMPLES, epsilon
from vae.data import local_idx_folder

pytestmark = pytest.mark.skipif(
    local_idx_folder("fashion-mnist") is None,
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)
PANEL = CLICK_PANEL

# A canvas's grey levels (its red channel), row by row, at its own pixel size.
_LEVELS_JS = """(canvas) => {
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const out = [];
  for (let i = 0; i < d.length; i += 4) out.push(d[i]);
  return [canvas.width, canvas.height, out];
}"""


@pytest.fixture(scope="module")
def shipped_url(app_url):
    """The shared server on an empty library (tests/e2e/conftest.py): only the shipped model."""
    return app_url


@pytest.fixture(scope="module")
def model_and_data():
    from ui.models import PRETRAINED_FASHION, PRETRAINED_ROOT
    from vae import load_checkpoint
    from vae.data import load_dataset

    model, _ = load_checkpoint(PRETRAINED_ROOT / f"{PRETRAINED_FASHION}.safetensors")
    return model, load_dataset("fashion-mnist", download=False)


@pytest.fixture(scope="module")
def page(browser, shipped_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.frames_seen = []  # (direction, bytes) of every websocket frame, in order
    page.on(
        "websocket",
        lambda ws: (
            ws.on("framesent", lambda f: page.frames_seen.append(("sent", f))),
            ws.on("framereceived", lambda f: page.frames_seen.append(("received", f))),
        ),
    )
    open_shipped_fashion(page, shipped_url)
    yield page
    context.close()


def wait_for(page, predicate, what: str, timeout: float = 180.0):
    """Until predicate() is true; waits through Playwright, which delivers the frame events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(20)
    raise TimeoutError(what)


def levels(page, name: str) -> np.ndarray:
    width, height, values = page.locator(f"{PANEL} canvas.vx-cp-{name}").evaluate(_LEVELS_JS)
    return np.asarray(values, dtype=np.int32).reshape(height, width)


def test_a_click_on_a_test_point_is_answered_by_the_browser_alone(
    page, model_and_data, artifacts_dir
) -> None:
    import torch

    from ui.latent_images import to_image
    from viz.plots import to_uint8

    model, data = model_and_data
    gd = keyed_graph(page, "map_chart")
    x, y, index = lonely_points(gd, 1)[0]
    before = len(page.frames_seen)
    page.mouse.click(*to_page(gd, x, y))
    answer = wait_for(
        page, lambda: (s := click_panel_shown(page)) and s["index"] == index and s, "the panel"
    )
    frames_by_then = page.frames_seen[before:]
    page.screenshot(path=str(artifacts_dir / "click_panel_point_1400.png"))
    assert frames_by_then == [], "the panel waited for the server"

    # The original: the dataset file's picture, cut from the atlas, upscaled exactly.
    original = levels(page, "original")
    scale = original.shape[0] // 28
    assert original.shape == (28 * scale, 28 * scale) and scale >= 2
    truth = to_uint8(data.x_test[index].reshape(28, 28))
    assert np.array_equal(original[::scale, ::scale], truth)

    # mu, sigma from the model's own encoder; KL from the closed form on those.
    numbers = page.locator(f"{PANEL} .vx-cp-numbers")
    mu_b = np.asarray(json.loads(numbers.get_attribute("data-mu")))
    sigma_b = np.asarray(json.loads(numbers.get_attribute("data-sigma")))
    with torch.no_grad():
        mu_t, logvar_t = model.encode(torch.as_tensor(data.x_test[index : index + 1]))
    mu, sigma = mu_t[0].double().numpy(), torch.exp(0.5 * logvar_t[0]).double().numpy()
    assert np.allclose(mu_b, mu, atol=1e-5) and np.allclose(sigma_b, sigma, rtol=1e-5)
    kl = 0.5 * np.sum(sigma**2 + mu**2 - 1 - np.log(sigma**2))
    assert float(numbers.get_attribute("data-kl")) == pytest.approx(kl, rel=1e-5)
    assert f"KL {kl:.2f} nats" in numbers.inner_text()
    assert answer["z"] == pytest.approx([x, y], abs=1e-5)

    # The samples z = mu + sigma * eps: the server's eps, drawn on the map as dots.
    samples = np.asarray(
        json.loads(page.locator(f"{PANEL} canvas.vx-cp-samples").get_attribute("data-samples"))
    )
    expected = mu_b + sigma_b * epsilon(answer["seed"], index)
    assert samples.shape == (N_SAMPLES, 2) and np.allclose(samples, expected, atol=1e-9)
    dots = wait_for(page, lambda: (m := last_mark(page, "vx:map-layer:map_chart")) and m["samples"],
                    "the dots on the map")  # fmt: skip
    assert np.allclose(dots, samples)

    # The reconstruction and the samples' pictures: the model's decoder, to a grey level.
    with torch.no_grad():
        decoded = model.decode_mean(
            torch.as_tensor(np.vstack([mu_b, samples]), dtype=torch.float32)
        )
    recon = levels(page, "reconstruction")
    want = np.asarray(to_image(decoded[0].numpy(), (28, 28), 28), dtype=np.int32)
    assert np.abs(recon[::scale, ::scale] - want).max() <= 1
    strip = levels(page, "samples")
    tile = strip.shape[0]
    step = tile // 28
    for k in range(N_SAMPLES):
        picture = strip[:, k * (tile + 4) : k * (tile + 4) + tile][::step, ::step]
        want = np.asarray(to_image(decoded[1 + k].numpy(), (28, 28), 28), dtype=np.int32)
        assert np.abs(picture - want).max() <= 1, k

    # The server hears of it afterwards, unasked: its answer draws the same dots.
    wait_for(page, lambda: any(d == "sent" for d, _ in page.frames_seen[before:]), "the notice",
             timeout=NOTICE_DELAY_MS / 1000 + 60)  # fmt: skip
    assert not exceptions(page)


# Known race (#21, open): in one of two full runs the link made right after a click missed it
# (it passes alone, 4 of 4). Re-run so that the landing does not hang on it; the issue says so.
@pytest.mark.flaky(reruns=2)
def test_a_link_made_right_after_a_click_restores_the_point(
    browser, page, shipped_url, artifacts_dir
) -> None:
    gd = keyed_graph(page, "map_chart")
    x, y, index = lonely_points(gd, 3)[-1]
    page.mouse.click(*to_page(gd, x, y))
    wait_for(page, lambda: (s := click_panel_shown(page)) and s["index"] == index, "the panel")
    # At once, well within the notice's delay: the press itself sends the click first.
    page.get_by_role("button", name="Update link to this view").click()
    link = wait_for(
        page,
        lambda: parse_qs(urlparse(page.url).query).get("i") == [str(index)] and page.url,
        "the link",
    )
    fresh = browser.new_context(viewport={"width": 1000, "height": 900})
    other = fresh.new_page()
    try:
        other.goto(link)
        keyed_graph(other, "map_chart")
        restored = wait_for(
            other, lambda: click_panel_shown(other), "the restored panel", timeout=180
        )
        assert restored["index"] == index and restored["z"] == pytest.approx([x, y], abs=1e-5)
        other.screenshot(path=str(artifacts_dir / "click_panel_link_1000.png"))
        assert not exceptions(other)
    finally:
        fresh.close()


def click_notices(frames) -> list[dict]:
    """The clicks the browser told the server of, in the websocket frames it sent."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    clicks = []
    for direction, frame in frames:
        if direction != "sent":
            continue
        message = BackMsg()
        message.ParseFromString(frame if isinstance(frame, bytes) else frame.encode())
        for widget in message.rerun_script.widget_states.widgets:
            if widget.id.endswith("map_layer__events") and widget.json_trigger_value:
                clicks += [e["value"] for e in json.loads(widget.json_trigger_value)]
    return clicks


def test_a_burst_of_clicks_is_one_notice_of_the_last(page) -> None:
    from tests.e2e.driver import empty_spots, wait_idle

    gd = keyed_graph(page, "map_chart")
    wait_idle(page)
    spots = empty_spots(gd, 3)
    before = len(page.frames_seen)
    # Three clicks on three spots, well within the notice's delay of one another (waiting for
    # each panel in between could outlast it on a loaded machine).
    for spot in spots:
        page.mouse.click(*to_page(gd, *spot))
    wait_for(page, lambda: (a := click_panel_shown(page)) and a["z"] == pytest.approx(list(spots[-1])),
             "the last click's panel")  # fmt: skip
    last = len(page.frames_seen)
    assert click_notices(page.frames_seen[before:last]) == []
    wait_for(page, lambda: click_notices(page.frames_seen[before:]), "the notice",
             timeout=NOTICE_DELAY_MS / 1000 + 60)  # fmt: skip
    wait_idle(page)
    (notice,) = click_notices(page.frames_seen[before:])
    assert [notice["x"], notice["y"]] == pytest.approx(list(spots[-1]))
    assert notice["index"] is None
    assert not exceptions(page)

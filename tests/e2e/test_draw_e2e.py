"""The Draw & encode page in Chromium: a stroke moves the bubble (μ leaves the blank pad's μ),
the finished stroke reaches the server, an upload is shown as the model sees it.

On the shared server with the saved digits model (tests/e2e/conftest.py). Screenshots go to
artifacts/e2e/draw_*.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import SAVED_DIGITS
from tests.e2e.driver import exceptions, wait_idle
from tests.web_modules import last_mark

MODEL = SAVED_DIGITS
PAD = ".st-key-draw_pad .vx-pad"
SURFACE = ".st-key-draw_pad .vx-pad-surface"


@pytest.fixture(scope="module")
def page(browser, library_url, artifacts_dir):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(library_url + "/")  # registers st.navigation's pages (see test_explore_e2e)
    page.get_by_text("Presenter mode").wait_for(timeout=120_000)
    page.goto(library_url + f"/draw?model={MODEL}")
    page.locator(PAD).wait_for(timeout=120_000)
    wait_idle(page, timeout=120)
    yield page
    context.close()


def pad_mu(page) -> list[float] | None:
    """The μ the pad drew last (its performance mark)."""
    drawn = last_mark(page, "vx:pad-update")
    return drawn["mu"] if drawn else None


def wait_for_mu(page, differs_from, timeout: float = 30.0) -> list[float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mu = pad_mu(page)
        if mu is not None and not np.allclose(mu, differs_from, atol=1e-6):
            return mu
        time.sleep(0.02)
    raise TimeoutError(f"μ stayed at {differs_from}")


def stroke(page, points: list[tuple[float, float]]) -> None:
    """A mouse stroke through `points` in pad units ([0, 1]^2)."""
    box = page.locator(SURFACE).bounding_box()
    at = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for p in at[1:]:
        page.mouse.move(*p, steps=4)
    page.mouse.up()


def test_a_stroke_moves_the_bubble(page, artifacts_dir) -> None:
    blank = pad_mu(page)
    assert blank is not None  # the blank pad's μ is drawn from the start
    updated = last_mark(page, "vx:pad-update")["at"]
    page.locator(SURFACE).scroll_into_view_if_needed()
    stroke(page, [(0.5, 0.15), (0.5, 0.5), (0.5, 0.85)])  # a "1"
    wait_for_mu(page, blank)
    assert last_mark(page, "vx:pad-update")["at"] > updated
    # the finished stroke reached the server: its own μ of the same picture, in the caption
    page.get_by_text("Encoded on the server, your drawing").first.wait_for(timeout=30_000)
    wait_idle(page)
    drawn = pad_mu(page)  # the finished stroke's (the first change may be from mid-stroke)
    caption = page.get_by_text("Encoded on the server").first.inner_text()
    server = [float(v) for v in caption.split("μ = (")[1].split(")")[0].split(",")]
    np.testing.assert_allclose(server, drawn, atol=2e-3)  # 3 decimals shown, x sent to 4
    page.screenshot(path=str(artifacts_dir / "draw_stroke.png"), full_page=True)
    assert not exceptions(page)


def test_clear_returns_to_the_blank_pads_mu(page) -> None:
    drawn = pad_mu(page)
    page.locator(".st-key-draw_pad .vx-pad-clear").click()
    blank = wait_for_mu(page, drawn)
    page.get_by_text("Draw something").first.wait_for(timeout=30_000)
    stroke(page, [(0.3, 0.3), (0.7, 0.3), (0.4, 0.8)])  # a "7"
    assert not np.allclose(wait_for_mu(page, blank), blank)
    assert not exceptions(page)


def test_an_upload_is_shown_as_the_model_sees_it(page, artifacts_dir, tmp_path) -> None:
    before = pad_mu(page)
    pixels = np.full((300, 200), 255, dtype=np.uint8)
    pixels[50:250, 90:110] = 0  # a dark bar on white paper
    path = tmp_path / "bar.png"
    Image.fromarray(pixels).save(path)
    page.get_by_text("Upload a picture instead").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text("what the model sees: bar.png as 8×8").wait_for(timeout=60_000)
    wait_idle(page)
    preview = page.locator('[data-testid="stImage"] img').first.get_attribute("src")
    assert preview
    assert not np.allclose(wait_for_mu(page, before), before)  # the pad encodes the upload
    page.screenshot(path=str(artifacts_dir / "draw_upload.png"), full_page=True)
    # a file that is no picture: one sentence, and the upload shown before stays
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not a picture")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    page.get_by_text("notes.png: the file is not a PNG or JPEG image").wait_for(timeout=60_000)
    assert page.get_by_text("what the model sees: bar.png").count() == 1
    assert not exceptions(page)


def test_send_stores_the_input_for_the_inference_lab(page) -> None:
    page.get_by_role("button", name="Send to the Inference lab").click()
    if (Path(__file__).resolve().parents[2] / "pages" / "inference.py").exists():
        page.get_by_role("heading", name="Inference lab").wait_for(timeout=60_000)
    else:
        page.get_by_text("Stored for the Inference lab").wait_for(timeout=60_000)
    assert not exceptions(page)

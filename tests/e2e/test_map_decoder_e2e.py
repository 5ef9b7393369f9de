"""The decoder's weights reach the browser once: later runs of the Latent map send a header.

In Chromium against the real app: after a click (which changes the z the decoder is sent
with), a change of a map option reruns the page; the picture of the clicked z is drawn again
from the weights the browser kept, and the run's websocket bytes are far below the weights'
size. With the browser's copy gone (as after an eviction), the component asks for them, the
next run brings them, and the same picture comes back. Sizes are compared with the weights'
own size, never with fixed numbers or times.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.driver import empty_spots, exceptions, keyed_graph, to_page, wait_idle

PICTURE = ".st-key-map_decoded img"
CAPTION = ".st-key-map_decoded figcaption"
NAV = '[data-testid="stSidebarNav"] a'
DECODER = b"vae_explorer.map_decoder"  # the component's name, in each of its messages

# Bytes of float32 weights the browser holds (ui/components/web/lib/networks.js): the page
# shows the map decoder only, so those are its decoder's.
_CACHED_BYTES_JS = """() => {
  const cache = window.vaeExplorer && window.vaeExplorer.stores.get("networks");
  if (!cache) return 0;
  let n = 0;
  for (const ops of cache.values())
    for (const op of ops) n += 4 * ((op.W ? op.W.length : 0) + (op.b ? op.b.length : 0));
  return n;
}"""


@pytest.fixture(scope="module")
def page(browser, app_url, artifacts_dir):
    """The app after a quick start, with every websocket frame it receives kept."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.received = []  # the websocket frames from the server (bytes)
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: page.received.append(f)))
    page.goto(app_url)
    page.get_by_role("button", name="Train on digits").click()
    page.get_by_role("heading", name="Latent map").wait_for(timeout=120_000)
    keyed_graph(page, "map_chart")
    wait_idle(page)
    yield page
    context.close()


def _src(page) -> str:
    return page.locator(PICTURE).first.get_attribute("src") or ""


def _wait_src(page, wanted, timeout: float = 60.0) -> str:
    """Until the picture's src satisfies wanted(src)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted(src := _src(page)):
            return src
        time.sleep(0.02)
    raise TimeoutError(f"the picture is still {src[:40]!r}")


def _rerun_frames(page, action, picture: str) -> tuple[int, int]:
    """After `action`, until the page is idle showing `picture` again: (bytes of the
    decoder's messages, bytes of all messages) received."""
    start = len(page.received)
    action()
    page.wait_for_timeout(300)  # the rerun starts
    wait_idle(page)
    _wait_src(page, lambda src: src == picture)
    wait_idle(page)
    frames = [f if isinstance(f, bytes) else f.encode() for f in page.received[start:]]
    return sum(len(f) for f in frames if DECODER in f), sum(len(f) for f in frames)


def _away(page, title: str = "Home") -> None:
    """Go to another page (the decoder is unmounted there)."""
    page.locator(NAV, has_text=title).first.click()
    page.wait_for_timeout(300)
    wait_idle(page)


def _back(page) -> None:
    page.locator(NAV, has_text="Latent map").first.click()
    page.get_by_role("heading", name="Latent map").wait_for(timeout=60_000)


def _bubbles(page, label: str) -> None:
    page.locator(".st-key-map_bubbles").get_by_text(label, exact=True).click()


def test_a_rerun_after_a_click_sends_no_weights_and_redraws_the_picture(
    page, artifacts_dir
) -> None:
    weights = page.evaluate(_CACHED_BYTES_JS)
    assert weights > 100_000  # the quick-start decoder (2 -> 128 -> 256 -> 64) is ~200 KB

    gd = keyed_graph(page, "map_chart")
    spot = empty_spots(gd, 1)[0]
    page.mouse.click(*to_page(gd, *spot))
    picture = _wait_src(page, lambda src: src.startswith("data:image/png"))
    wait_idle(page)

    # The click changed the z the decoder is mounted with: before, this run re-sent it all.
    decoder, total = _rerun_frames(page, lambda: _bubbles(page, "off"), picture)
    page.screenshot(path=str(artifacts_dir / "map-decoder-rerun.png"))
    assert 0 < decoder < weights / 10, (weights, decoder, total)
    caption = page.locator(CAPTION).inner_text()
    assert f"{spot[0]:.3f}" in caption and f"{spot[1]:.3f}" in caption  # the clicked z, redrawn
    assert page.evaluate(_CACHED_BYTES_JS) == weights  # one decoder kept, no second copy

    # Another page and back: the component is mounted anew, from the browser's copy. (The
    # Latent map's run only: before, it re-sent the weights too.)
    _away(page)
    decoder, total = _rerun_frames(page, lambda: _back(page), picture)
    assert 0 < decoder < weights / 10, (weights, decoder, total)
    assert not exceptions(page)


def test_a_browser_without_the_weights_asks_and_gets_them(page) -> None:
    weights = page.evaluate(_CACHED_BYTES_JS)
    picture = _src(page)
    assert weights > 0 and picture.startswith("data:image/png")
    # The browser's copy lost (as after an eviction from its cache of 4): the component
    # mounted anew shows no picture, asks, and the run that follows brings the weights; the
    # same picture is back.
    _away(page)
    page.evaluate("() => window.vaeExplorer.stores.get('networks').clear()")
    decoder, total = _rerun_frames(page, lambda: _back(page), picture)
    assert decoder >= weights, (weights, decoder, total)
    assert page.evaluate(_CACHED_BYTES_JS) == weights
    assert not exceptions(page)

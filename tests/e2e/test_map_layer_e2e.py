"""The latent map's browser layer in Chromium: bubbles redrawn for the window on screen, layers
in order, the clicked point's samples in its bubble, the zoom kept across colour-by, and no
broken image before the first click.

Everything is read from the live page: the layer marks what it last drew on the performance
timeline (the window, the bubbles drawn), and pixels are read back from its canvases. No
absolute times.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.driver import axis_ranges, exceptions, keyed_graph, lonely_points, to_page, wait_idle
from tests.web_modules import last_mark

UNDER = ".st-key-map_chart canvas.vx-bubbles"
OVER = ".st-key-map_chart canvas.vx-over"
LAYER = "vx:map-layer:map_chart"  # the layer's performance mark: what it drew last

# Alpha > 0 pixels of a canvas inside a CSS-pixel box [x0, y0, x1, y1] of the graph div.
_INK_JS = """([selector, box, rgb]) => {
  const c = document.querySelector(selector);
  const dpr = c.width / parseFloat(c.style.width);
  const [x0, y0, x1, y1] = box.map(v => Math.round(v * dpr));
  const d = c.getContext('2d').getImageData(x0, y0, x1 - x0, y1 - y0).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 0) continue;
    if (!rgb || (Math.abs(d[i] - rgb[0]) < 40 && Math.abs(d[i + 1] - rgb[1]) < 40
                 && Math.abs(d[i + 2] - rgb[2]) < 40)) n++;
  }
  return n;
}"""

# The plot area of the graph, in CSS pixels of the graph div: [x0, y0, x1, y1].
_PLOT_BOX_JS = """gd => { const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  return [xa._offset, ya._offset, xa._offset + xa._length, ya._offset + ya._length]; }"""


@pytest.fixture(scope="module")
def page(browser, app_url, artifacts_dir):
    """The Latent map after a quick start (digits), not clicked yet."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(app_url)
    page.get_by_role("button", name="Train on digits").click()
    page.get_by_role("heading", name="Latent map").wait_for(timeout=120_000)
    keyed_graph(page, "map_chart")
    page.locator(UNDER).wait_for(state="attached", timeout=60_000)
    wait_idle(page)
    yield page
    context.close()


def drawn_window(page) -> list[float] | None:
    drawn = last_mark(page, LAYER)
    return drawn["window"] if drawn else None


def wait_for_window(page, wanted, timeout: float = 30.0) -> list[float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        window = drawn_window(page)
        if window is not None and wanted(window):
            return window
        time.sleep(0.05)
    raise TimeoutError(f"the bubble layer still shows {drawn_window(page)}")


def close(a, b, tol=1e-6) -> bool:
    return all(abs(u - v) <= tol * max(1.0, abs(u), abs(v)) for u, v in zip(a, b, strict=True))


def test_before_the_first_click_the_picture_is_a_placeholder_not_a_broken_image(page) -> None:
    placeholder = page.locator(".st-key-map_decoded .vx-decoded-placeholder")
    assert placeholder.is_visible()
    assert "Click the map" in placeholder.inner_text()
    broken = page.evaluate(
        "() => [...document.querySelectorAll('img')].filter(i => i.offsetParent !== null"
        " && (!i.getAttribute('src') || (i.complete && i.naturalWidth === 0))).length"
    )
    assert broken == 0


def test_the_components_leave_one_global_and_load_their_code_as_files(page) -> None:
    """One registry on window (web/lib/registry.js), and each component's module is a file
    the page imported, not a string carried by the element."""
    names = page.evaluate(
        "() => Object.keys(window).filter(k => k.startsWith('__vx') || k === 'vaeExplorer')"
    )
    assert names == ["vaeExplorer"]
    modules = page.evaluate(
        "() => performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(url => url.includes('/_stcore/bidi-components/'))"
    )
    fetched = {url.split("/_stcore/bidi-components/")[1] for url in modules}
    assert {"vae_explorer.map_layer/map_layer.js", "vae_explorer.map_layer/lib/frame.js"} <= fetched


def test_the_bubbles_lie_under_the_points_and_the_click_layer_above(page) -> None:
    order = page.evaluate(
        """() => {
        const box = document.querySelector('.st-key-map_chart .svg-container');
        return [...box.children].map(e => e.tagName.toLowerCase() + '.' +
          (e.getAttribute('class') || '').split(' ')[0]);
      }"""
    )
    assert order[0] == "canvas.vx-bubbles"  # below Plotly's (transparent) plot and points
    over = order.index("canvas.vx-over")
    svgs = [i for i, name in enumerate(order) if name.startswith("svg.main-svg")]
    assert svgs[0] < over < svgs[-1]  # above the points, under the hover labels


def test_zooming_in_redraws_the_bubbles_for_the_new_window(page, artifacts_dir) -> None:
    gd = keyed_graph(page, "map_chart")
    (x0, x1), (y0, y1) = axis_ranges(gd)
    before = wait_for_window(page, lambda w: close(w, [x0, x1, y0, y1]))
    drawn_before = last_mark(page, LAYER)["drawn"]
    assert drawn_before > 0
    box = gd.evaluate(_PLOT_BOX_JS)
    assert page.evaluate(_INK_JS, [UNDER, box, None]) > 0  # bubbles were drawn
    # Drag a zoom box over the middle quarter of the plot area.
    left, top = to_page(gd, x0 + (x1 - x0) * 0.375, y1 - (y1 - y0) * 0.375)
    right, bottom = to_page(gd, x0 + (x1 - x0) * 0.625, y1 - (y1 - y0) * 0.625)
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move((left + right) / 2, (top + bottom) / 2, steps=4)
    page.mouse.move(right, bottom, steps=4)
    page.mouse.up()
    (a0, a1), (b0, b1) = axis_ranges(gd)
    assert a1 - a0 < (x1 - x0) / 2  # Plotly zoomed in
    after = wait_for_window(page, lambda w: close(w, [a0, a1, b0, b1]))
    assert not close(after, before)
    # Only what is on screen is drawn: fewer bubbles than at full view.
    assert last_mark(page, LAYER)["drawn"] < drawn_before
    page.screenshot(path=str(artifacts_dir / "map-layer-zoomed.png"))
    page.mouse.dblclick((left + right) / 2, (top + bottom) / 2)  # back to a full view
    page.wait_for_timeout(300)
    (c0, c1), (d0, d1) = axis_ranges(gd)
    assert c1 - c0 > a1 - a0
    wait_for_window(page, lambda w: close(w, [c0, c1, d0, d1]))
    assert not exceptions(page)


def test_a_clicked_points_samples_are_drawn_in_its_bubble(page) -> None:
    gd = keyed_graph(page, "map_chart")
    x, y, index = lonely_points(gd, 1)[0]
    px, py = to_page(gd, x, y)
    page.mouse.click(px, py)
    page.get_by_text(f"test point #{index}").wait_for(timeout=60_000)
    wait_idle(page)
    rect = gd.evaluate("gd => { const r = gd.getBoundingClientRect(); return [r.left, r.top]; }")
    cx, cy = px - rect[0], py - rect[1]
    orange = [0xE8, 0x59, 0x0C]
    # The samples are around the clicked point (digits' bubbles are tens of pixels wide).
    reach = 80.0
    box = [cx - reach, cy - reach, cx + reach, cy + reach]
    deadline = time.monotonic() + 20
    while page.evaluate(_INK_JS, [OVER, box, orange]) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert page.evaluate(_INK_JS, [OVER, box, orange]) > 0
    assert not exceptions(page)


def test_changing_colour_by_keeps_the_zoom(page) -> None:
    gd = keyed_graph(page, "map_chart")
    (x0, x1), (y0, y1) = axis_ranges(gd)
    left, top = to_page(gd, x0 + (x1 - x0) * 0.2, y1 - (y1 - y0) * 0.2)
    right, bottom = to_page(gd, x0 + (x1 - x0) * 0.6, y1 - (y1 - y0) * 0.6)
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(right, bottom, steps=6)
    page.mouse.up()
    zoomed = axis_ranges(gd)
    page.wait_for_timeout(800)  # the layer reports the window once the zoom settles
    wait_idle(page)
    page.get_by_role("combobox", name="Colour by").click()
    page.get_by_role("option", name="KL to prior").click()
    page.wait_for_timeout(500)
    wait_idle(page)
    gd = keyed_graph(page, "map_chart")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = axis_ranges(gd)
        if close(now[0], zoomed[0], 1e-3):
            break
        time.sleep(0.1)
    assert close(axis_ranges(gd)[0], zoomed[0], 1e-3)
    assert not exceptions(page)

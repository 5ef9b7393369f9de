"""The shipped Fashion-MNIST model in Chromium, as a lecturer uses it: its link opens in a fresh
browser, a double-click zooms out and selects nothing, and switching colourings (with and
without a colour bar) keeps a zoomed view's axes. Screenshots at 1400 and 1000 px go to
artifacts/e2e/shipped_*.png.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.conftest import app_server
from tests.e2e.driver import axis_ranges, exceptions, keyed_graph, lonely_points, to_page, wait_idle
from tests.web_modules import last_mark
from vae.data import local_idx_folder

pytestmark = pytest.mark.skipif(
    local_idx_folder("fashion-mnist") is None,
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)
OVER = ".st-key-map_chart canvas.vx-over"


@pytest.fixture(scope="module")
def shipped_url(tmp_path_factory, artifacts_dir):
    with app_server(tmp_path_factory.mktemp("shipped_models")) as url:
        yield url


def wait_for(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(what)


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def open_shipped_map(browser, url: str, width: int):
    """Home → "Open Fashion-MNIST" in a new browser context; returns (context, page)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(url + "/")
    page.get_by_role("button", name="Open Fashion-MNIST").click(timeout=120_000)
    page.get_by_role("heading", name="Latent map").wait_for(timeout=180_000)
    keyed_graph(page, "map_chart")
    page.locator(OVER).wait_for(state="attached", timeout=120_000)
    wait_idle(page, timeout=120)
    return context, page


def plot_size(page) -> list[float]:
    """The plot area's width and height in px, as Plotly laid it out."""
    return keyed_graph(page, "map_chart").evaluate(
        "gd => [gd._fullLayout._size.w, gd._fullLayout._size.h]"
    )


def clicked_on_canvas(page):
    drawn = last_mark(page, "vx:map-layer:map_chart")  # what the map layer drew last
    return drawn["clicked"] if drawn else None


@pytest.mark.parametrize("width", [1400, 1000])
def test_the_shipped_models_link_opens_in_a_fresh_browser(
    browser, shipped_url, artifacts_dir, width
):
    context, page = open_shipped_map(browser, shipped_url, width)
    try:
        link = wait_for(lambda: "model" in query(page) and page.url, "no link in the address bar")
        assert query(page)["model"] == "fashion-mnist" and query(page)["src"] == "pretrained"
        page.screenshot(path=str(artifacts_dir / f"shipped_map_{width}.png"))
    finally:
        context.close()
    fresh = browser.new_context(viewport={"width": width, "height": 900})
    try:
        other = fresh.new_page()
        other.goto(link)
        other.get_by_role("heading", name="Latent map").wait_for(timeout=180_000)
        keyed_graph(other, "map_chart")
        wait_idle(other, timeout=120)
        shown = other.locator("body").inner_text()
        assert "fashion-mnist (pretrained)" in shown
        assert "could not be opened" not in shown and "not valid" not in shown
        assert not exceptions(other)
        other.screenshot(path=str(artifacts_dir / f"shipped_link_reopened_{width}.png"))
    finally:
        fresh.close()


def test_a_double_click_zooms_out_and_selects_nothing(browser, shipped_url, artifacts_dir):
    context, page = open_shipped_map(browser, shipped_url, 1400)
    try:
        gd = keyed_graph(page, "map_chart")
        fx, fy, first = lonely_points(gd, 1)[0]
        page.mouse.click(*to_page(gd, fx, fy))
        page.get_by_text(f"test point #{first}").first.wait_for(timeout=60_000)
        wait_idle(page)
        full = axis_ranges(gd)
        # Zoom in by dragging a box, then double-click on another point.
        (x0, x1), (y0, y1) = full
        a = to_page(gd, x0 + (x1 - x0) * 0.3, y1 - (y1 - y0) * 0.3)
        b = to_page(gd, x0 + (x1 - x0) * 0.7, y1 - (y1 - y0) * 0.7)
        page.mouse.move(*a)
        page.mouse.down()
        page.mouse.move(*b, steps=6)
        page.mouse.up()
        zoomed = axis_ranges(gd)
        assert zoomed[0][1] - zoomed[0][0] < (x1 - x0) * 0.6
        wait_idle(page)
        x, y, target = next(p for p in lonely_points(gd, 5) if p[2] != first)
        page.mouse.dblclick(*to_page(gd, x, y))
        wait_for(
            lambda: (
                axis_ranges(gd)[0][1] - axis_ranges(gd)[0][0] > (zoomed[0][1] - zoomed[0][0]) * 1.5
            ),
            "the double-click did not zoom out",
        )
        page.wait_for_timeout(1000)  # longer than the double-click delay: a click would be sent
        wait_idle(page)
        shown = page.locator("body").inner_text()
        assert f"test point #{first}" in shown and f"test point #{target}" not in shown
        assert clicked_on_canvas(page) == pytest.approx([fx, fy], abs=1e-4)  # its ring stays
        page.get_by_role("button", name="Update link to this view").click()
        wait_idle(page)
        assert query(page).get("i") == str(first)  # the link still names the first point
        assert not exceptions(page)
        page.screenshot(path=str(artifacts_dir / "shipped_after_double_click.png"))
    finally:
        context.close()


@pytest.mark.parametrize("width", [1400, 1000])
def test_switching_colourings_keeps_the_axes(browser, shipped_url, artifacts_dir, width):
    """The colour bar of σ and KL narrowed the plot: a zoomed view's y-span went 4.7 → 5.4 → 6.1."""
    context, page = open_shipped_map(browser, shipped_url, width)
    try:
        gd = keyed_graph(page, "map_chart")
        (x0, x1), (y0, y1) = axis_ranges(gd)
        a = to_page(gd, x0 + (x1 - x0) * 0.25, y1 - (y1 - y0) * 0.25)
        b = to_page(gd, x0 + (x1 - x0) * 0.6, y1 - (y1 - y0) * 0.6)
        page.mouse.move(*a)
        page.mouse.down()
        page.mouse.move(*b, steps=6)
        page.mouse.up()
        page.wait_for_timeout(800)  # the layer reports the window once the zoom settles
        wait_idle(page)
        ranges = {"zoomed": axis_ranges(keyed_graph(page, "map_chart"))}
        sizes = {"zoomed": plot_size(page)}
        for colouring in ("σ (posterior std)", "KL to prior", "label"):
            page.get_by_role("combobox", name="Colour by").click()
            page.get_by_role("option", name=colouring).click()
            wait_idle(page, timeout=120)
            page.wait_for_timeout(500)
            wait_idle(page, timeout=120)
            ranges[colouring] = axis_ranges(keyed_graph(page, "map_chart"))
            sizes[colouring] = plot_size(page)
            page.screenshot(path=str(artifacts_dir / f"shipped_colour_{colouring[:5]}_{width}.png"))
        spans = {k: (r[0][1] - r[0][0], r[1][1] - r[1][0]) for k, r in ranges.items()}
        first = spans["zoomed"]
        for colouring, span in spans.items():
            assert span == pytest.approx(first, rel=1e-6), (colouring, spans, sizes)
        assert not exceptions(page)
    finally:
        context.close()

"""The Inference lab in Chromium: a point clicked on the Latent map opens with its posterior.

On the shared server with the saved digits model (tests/e2e/conftest.py). Screenshots go to
artifacts/e2e/inference_*.png.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import SAVED_DIGITS
from tests.e2e.driver import exceptions, keyed_graph, lonely_points, to_page, wait_idle

MODEL = SAVED_DIGITS


# Known race (#21, open): in one of two full runs the lab opened right after a click did not
# see it (the click's debounced notice against the page change). Re-run; the issue says so.
@pytest.mark.flaky(reruns=2)
def test_a_clicked_point_opens_in_the_inference_lab(browser, library_url, artifacts_dir):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(library_url + f"/latent_map?model={MODEL}")
        page.get_by_text(f"Model: {MODEL}").first.wait_for(timeout=120_000)
        gd = keyed_graph(page, "map_chart")
        wait_idle(page, timeout=120)
        x, y, index = lonely_points(gd, 1)[0]
        page.mouse.click(*to_page(gd, x, y))
        page.get_by_text(f"test point #{index}").first.wait_for(timeout=60_000)
        wait_idle(page, timeout=60)

        page.locator('[data-testid="stSidebarNav"] a', has_text="Inference lab").click()
        page.get_by_text(f"Last clicked on the Latent map (#{index})").wait_for(timeout=120_000)
        page.get_by_text("estimators of log p(x) against k").wait_for(timeout=180_000)
        wait_idle(page, timeout=120)
        assert page.get_by_text(f"test point #{index}").count()  # the clicked point is shown
        assert page.get_by_label("Test point #").input_value() == str(index)
        assert page.get_by_text("exact posterior p(z|x) against q").count()
        assert page.get_by_text("log p(x), exact (quadrature)").count()
        page.screenshot(path=str(artifacts_dir / "inference_clicked.png"), full_page=True)
        assert not exceptions(page)
    finally:
        context.close()


def test_a_lab_link_reopens_the_same_binary_sample(browser, library_url, artifacts_dir):
    """Issue 18: the lab's point and binary-sample number travel in the address bar, so the
    link a student opens shows the very x (and numbers) the class saw."""
    url = library_url
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url + f"/inference?model={MODEL.replace(' ', '+')}&lab=17&b=41")
    page.get_by_text("x scored: binary sample #41").wait_for(timeout=180_000)
    assert page.get_by_label("Test point #").input_value() == "17"
    page.get_by_role("button", name="New sample").click()
    page.get_by_text("x scored: binary sample #42").wait_for(timeout=180_000)
    wait_idle(page, timeout=120)
    page.wait_for_function("() => location.search.includes('b=42')", timeout=60_000)
    link = page.url
    assert "lab=17" in link
    numbers = page.locator(".stMarkdown table").first.inner_text()
    # The link, opened in another browser session, restores the same point and draw.
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(link)
    other.get_by_text("x scored: binary sample #42").wait_for(timeout=180_000)
    wait_idle(other, timeout=120)
    assert other.get_by_label("Test point #").input_value() == "17"
    assert other.locator(".stMarkdown table").first.inner_text() == numbers
    other.screenshot(path=str(artifacts_dir / "inference_link_sample.png"), full_page=True)
    assert not exceptions(page) and not exceptions(other)
    other.context.close()
    context.close()

"""The Inference lab in Chromium: a point clicked on the Latent map opens with its posterior.

On the shared server with the saved digits model (tests/e2e/conftest.py). Screenshots go to
artifacts/e2e/inference_*.png.
"""

from __future__ import annotations

from tests.e2e.conftest import SAVED_DIGITS
from tests.e2e.driver import exceptions, keyed_graph, lonely_points, to_page, wait_idle

MODEL = SAVED_DIGITS


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

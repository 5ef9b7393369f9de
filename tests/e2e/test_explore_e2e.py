"""The explore pages (issue 4) in Chromium: a shared link, the 3-D click, presenter mode.

On the shared server with the saved digits model (tests/e2e/conftest.py), so that links can
name it; the cold-server test starts its own. Screenshots go to artifacts/e2e/explore_*.png.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import SAVED_DIGITS, app_server
from tests.e2e.driver import exceptions, keyed_graph, wait_idle

MODEL = SAVED_DIGITS


@pytest.fixture(scope="module")
def page(browser, library_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.base = library_url
    # The first run of app.py registers st.navigation's pages with the server; until then a
    # deep link is served as a plain pages/ script (see the report). Open Home once.
    page.goto(page.base + "/")
    page.get_by_text("Presenter mode").wait_for(timeout=120_000)
    yield page
    context.close()


def test_a_link_opened_on_a_cold_server_still_restores_the_model(browser, library):
    """The very first request of a fresh server is a shared link: the page is first served
    without app.py; ensure_app_entry sends it through app.py and on to the page, and both
    switches must keep the link's parameters."""
    with app_server(library) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(url + f"/compare?model={MODEL}&sel=4,5")
        page.get_by_text(f"Model: {MODEL}").first.wait_for(timeout=120_000)
        # and on to the page of the link, with its selection
        page.get_by_text("Selected points: 4, 5").first.wait_for(timeout=120_000)
        assert not exceptions(page)
        context.close()


def open_and_settle(page, path: str, text: str) -> None:
    page.goto(page.base + path)
    # The first *visible* match: presenter mode hides the sidebar, whose help texts name keys too.
    page.get_by_text(text).filter(visible=True).first.wait_for(timeout=120_000)
    wait_idle(page, timeout=120)


def test_a_link_restores_the_model_and_the_selection(page, artifacts_dir):
    open_and_settle(page, f"/compare?model={MODEL}&sel=1,2", "Selected points: 1, 2")
    assert page.get_by_text(f"Model: {MODEL}").count() or page.get_by_text(MODEL).count()
    page.screenshot(path=str(artifacts_dir / "explore_compare.png"), full_page=True)
    assert not exceptions(page)


def test_a_bad_link_warns_and_the_page_still_works(page):
    open_and_settle(page, "/manifold?z=nan,1", "This link could not be opened")
    assert not exceptions(page)


def test_clicking_the_latent_map_marks_the_decoded_point_in_3d(page, artifacts_dir):
    open_and_settle(page, "/surface_3d", "Train a model on the swiss roll")
    page.get_by_role("button", name="Train (swiss-roll)").click()
    chart = keyed_graph(page, "s3d_map")
    box = chart.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45)
    page.get_by_text("g(z) =").first.wait_for(timeout=60_000)
    wait_idle(page, timeout=60)
    page.screenshot(path=str(artifacts_dir / "explore_surface_3d.png"), full_page=True)
    assert not exceptions(page)


def test_presenter_mode_keeps_the_controls_hides_the_sidebar_and_exits(page, artifacts_dir):
    open_and_settle(page, f"/aggregate?model={MODEL}&present=1", "Exit presenter mode")
    assert page.locator('[data-testid="stSlider"]').first.is_visible()  # usable on a projector
    assert not page.locator('[data-testid="stSidebar"]').is_visible()
    page.screenshot(path=str(artifacts_dir / "explore_presenter.png"), full_page=True)
    page.get_by_role("button", name="Exit presenter mode").click()
    page.locator('[data-testid="stSidebar"]').wait_for(state="visible", timeout=60_000)
    assert not exceptions(page)

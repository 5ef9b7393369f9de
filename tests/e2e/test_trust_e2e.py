"""In Chromium: the Train form keeps its settings across pages; the 3-D page's picture.

Screenshots at 1400 and 1000 px wide go to artifacts/e2e/trust_*.png.
"""

from __future__ import annotations

import pytest

from tests.e2e.driver import exceptions, keyed_graph, wait_idle

WIDTHS = (1400, 1000)


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def page(request, browser, app_url):
    context = browser.new_context(viewport={"width": request.param, "height": 1000})
    page = context.new_page()
    page.width = request.param
    page.goto(app_url)
    page.get_by_text("Presenter mode").wait_for(timeout=120_000)
    yield page
    context.close()


def _nav(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
    wait_idle(page, timeout=120)


def test_train_settings_survive_a_visit_to_another_page(page, artifacts_dir) -> None:
    _nav(page, "Train")
    epochs = page.locator(".st-key-train_epochs input")
    epochs.fill("7")
    epochs.press("Enter")
    hidden = page.locator(".st-key-train_hidden input")
    hidden.fill("48, 24")
    hidden.press("Enter")
    wait_idle(page)
    _nav(page, "Models")
    _nav(page, "Train")
    assert page.locator(".st-key-train_epochs input").input_value() == "7"
    assert page.locator(".st-key-train_hidden input").input_value() == "48, 24"
    page.get_by_text("Estimated:").first.wait_for(timeout=60_000)
    assert "7 epochs" in page.get_by_text("Estimated:").first.inner_text()
    page.screenshot(path=str(artifacts_dir / f"trust_train_{page.width}.png"), full_page=True)
    assert not exceptions(page)


def test_the_3d_page_unrolls_the_swiss_roll(page, artifacts_dir) -> None:
    _nav(page, "3-D picture")
    page.get_by_role("button", name="Train (swiss-roll)").click()
    keyed_graph(page, "s3d_map")
    wait_idle(page, timeout=120)
    page.screenshot(path=str(artifacts_dir / f"trust_surface_3d_{page.width}.png"), full_page=True)
    chart = page.locator('[data-testid="stPlotlyChart"]').first  # the 3-D figure, whole
    chart.scroll_into_view_if_needed()
    chart.screenshot(path=str(artifacts_dir / f"trust_surface_3d_chart_{page.width}.png"))
    assert not exceptions(page)

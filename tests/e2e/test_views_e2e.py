"""Views that travel, presenter mode's shortcuts and lecture scenes, in Chromium.

Its own server with a library holding one small saved digits model and two scenes of it.
Screenshots go to artifacts/e2e/views_*.png.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.conftest import app_server
from tests.e2e.driver import axis_ranges, exceptions, keyed_graph, wait_idle
from ui.presenter import MAP_TOP_PX

MODEL = "views digits"
WINDOW = "-1.5,1.25,-1,2"


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    from ui.scenes import Scene, SceneBook
    from ui.view_link import ModelRef, SharedView
    from vae import TrainConfig
    from vae.data import load_dataset
    from vae.library import ModelLibrary
    from vae.recipes import quick_train

    folder = tmp_path_factory.mktemp("views_models")
    quick = quick_train(load_dataset("digits"), MODEL, config=TrainConfig(epochs=3), hidden=(64,))
    ModelLibrary(folder).save(MODEL, quick.model, quick.metadata)
    book = SceneBook(folder)
    book.save(Scene("1 labels", SharedView(model=ModelRef(MODEL), color_by="label", bubbles="1σ")))
    book.save(
        Scene("2 kl", SharedView(model=ModelRef(MODEL), color_by="KL to prior", bubbles="off"))
    )
    return folder


@pytest.fixture(scope="module")
def views_url(library: Path, artifacts_dir: Path):
    with app_server(library) as url:
        yield url


@pytest.fixture
def page(browser, views_url):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.base = views_url
    page.goto(page.base + "/")  # the first run registers st.navigation's pages
    page.get_by_text("Presenter mode").wait_for(timeout=120_000)
    yield page
    context.close()


def open_and_settle(page, path: str, text: str) -> None:
    page.goto(page.base + path)
    # The first *visible* match: presenter mode hides the sidebar, whose help texts name keys too.
    page.get_by_text(text).filter(visible=True).first.wait_for(timeout=120_000)
    wait_idle(page, timeout=120)


def selected_colour(page) -> str:
    """The Colour-by box's text: its label and the choice shown (text or an input's value)."""
    box = page.locator(".st-key-map_color_by")
    values = box.locator("input").evaluate_all("els => els.map(e => e.value)")
    return " ".join([box.inner_text(), *values])


def checked_bubbles(page) -> str:
    radio = page.locator(".st-key-map_bubbles input[type=radio]:checked")
    return radio.evaluate("el => el.closest('label').innerText")


def blur(page) -> None:
    """Keys go to the page, not to a focused field."""
    page.evaluate("document.activeElement && document.activeElement.blur()")


def wait_for(predicate, what: str, page, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    page.screenshot(path=f"artifacts/e2e/views_timeout_{what.replace(' ', '_')}.png")
    raise AssertionError(f"timed out waiting for {what}")


def test_a_link_with_a_zoom_window_and_colour_by_is_applied(page, artifacts_dir):
    """The link's colour-by and bubbles are on the widgets; its window is kept in the session
    (vx_map_window: the address bar, which the app rewrites from the session because of the
    unknown `utm` parameter, still carries it) and the map shows it (the map layer applies it;
    with one latent unit as long on both axes one axis may show more than the window)."""
    link = f"/latent_map?model={MODEL.replace(' ', '+')}&win={WINDOW}&color=kl&bub=2&prior=1&utm=x"
    open_and_settle(page, link, "Ignored unknown link parameters")
    keyed_graph(page, "map_chart")
    assert "KL to prior" in selected_colour(page)
    assert checked_bubbles(page) == "2σ"
    assert page.locator(".st-key-map_prior input[type=checkbox]").is_checked()
    query = parse_qs(urlparse(page.url).query)
    assert "utm" not in query, "the app rewrote the address from its session"
    assert query["win"] == [WINDOW] and query["color"] == ["kl"] and query["bub"] == ["2"]
    x0, x1, y0, y1 = (float(v) for v in WINDOW.split(","))
    (ax0, ax1), (ay0, ay1) = axis_ranges(keyed_graph(page, "map_chart"))
    slack = 0.02
    assert ax0 <= x0 + slack and ax1 >= x1 - slack and ay0 <= y0 + slack and ay1 >= y1 - slack
    # within 10%: the map pads a window a little (measured 5% on y)
    fits_x = abs((ax1 - ax0) - (x1 - x0)) < 0.1 * (x1 - x0)
    fits_y = abs((ay1 - ay0) - (y1 - y0)) < 0.1 * (y1 - y0)
    assert fits_x or fits_y, ((ax0, ax1), (ay0, ay1))
    page.screenshot(path=str(artifacts_dir / "views_link.png"), full_page=True)
    assert not exceptions(page)


def press(page, key: str) -> None:
    """A key pressed on a settled page, as a person presses it: a page that is still rerunning
    (after a scene, the map reports its new window a moment later) remounts its key listener."""
    wait_idle(page, timeout=60, quiet=1.5)
    page.keyboard.press(key)


def test_presenter_mode_keys_switch_bubbles_colour_prior_and_scenes(page, artifacts_dir):
    open_and_settle(
        page, f"/latent_map?model={MODEL.replace(' ', '+')}&present=1&bub=1&color=label", "Esc"
    )
    chart = keyed_graph(page, "map_chart")
    # Projector-grade: the map takes the window's height under its controls, its text is large.
    box = chart.bounding_box()
    assert box["height"] >= 1080 - MAP_TOP_PX, box
    tick_px = chart.locator(".xtick text").first.evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize)"
    )
    assert tick_px >= 18, tick_px
    page.screenshot(path=str(artifacts_dir / "views_presenter_digits.png"))
    assert page.get_by_text("leave presenter mode").is_visible()  # the shortcut list

    blur(page)
    press(page, "b")
    wait_for(lambda: checked_bubbles(page) == "bubbles 2σ" or checked_bubbles(page) == "2σ",
             "bubbles 2σ", page)  # fmt: skip
    press(page, "p")
    prior = page.locator(".st-key-map_prior input[type=checkbox]")
    wait_for(prior.is_checked, "prior on", page)
    press(page, "c")
    wait_for(lambda: "σ (posterior std)" in selected_colour(page), "colour σ", page)
    # → steps through the library's scenes: the first, then the second.
    press(page, "ArrowRight")
    wait_for(lambda: "label" in selected_colour(page), "scene 1", page)
    press(page, "ArrowRight")
    wait_for(lambda: "KL to prior" in selected_colour(page), "scene 2", page)
    press(page, "ArrowLeft")
    wait_for(lambda: "label" in selected_colour(page), "scene 1 again", page)
    # Typing in a field is not a shortcut: no field is visible in presenter mode, so the
    # check is that Esc leaves it and the sidebar's controls come back.
    press(page, "Escape")
    page.locator('[data-testid="stSidebar"]').wait_for(state="visible", timeout=60_000)
    assert not exceptions(page)


def test_typing_in_a_field_is_not_a_shortcut(page):
    """B typed into the scene name field is text; pressed on the page it is the shortcut."""
    open_and_settle(
        page, f"/latent_map?model={MODEL.replace(' ', '+')}&bub=1", "Scenes for a lecture"
    )
    page.get_by_text("Scenes for a lecture").click()
    field = page.locator(".st-key-scene_name_input input")
    field.click()
    field.type("bcp")
    wait_idle(page, timeout=30)
    assert field.input_value() == "bcp" and checked_bubbles(page) == "1σ"
    blur(page)  # off the field: the field's value is sent, and the page reruns
    wait_idle(page, timeout=30)
    page.keyboard.press("b")
    wait_for(lambda: checked_bubbles(page) == "2σ", "bubbles 2σ", page)
    assert not exceptions(page)

"""The app in Chromium: quick start, click-to-decode, zoom kept, live scrubbing, every page,
and nothing of it leaves the machine.

One browser page walks through the app in order (a newcomer's path); the steps are separate
tests so that a failure names the broken step. Every request the browser makes on the way is
recorded: a classroom may have no internet, and the app must not tell anyone outside who uses
it, so the last step (every page) also checks that each request went to the app.
Screenshots go to artifacts/e2e/.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from tests.e2e.driver import (
    SCRUB_PICTURE,
    SCRUB_RANGE,
    axis_ranges,
    empty_spots,
    exceptions,
    keyed_graph,
    lonely_points,
    scrub_frame,
    to_page,
    wait_idle,
)
from tests.web_modules import last_mark

QUICK_START = "Train on digits"
NAV = '[data-testid="stSidebarNav"] a'
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about"}  # in-page URLs: nothing goes on the network


def leaves_the_machine(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in LOCAL_SCHEMES and parts.hostname not in LOCAL_HOSTS


def test_leaves_the_machine_tells_local_from_remote() -> None:
    assert leaves_the_machine("https://fonts.gstatic.com/s/i/x/24px.svg")
    assert leaves_the_machine("http://example.org/")
    assert not leaves_the_machine("http://127.0.0.1:8501/_stcore/health")
    assert not leaves_the_machine("ws://localhost:8501/_stcore/stream")
    assert not leaves_the_machine("data:image/svg+xml;base64,PHN2Zz4=")
    assert not leaves_the_machine("blob:http://127.0.0.1:8501/5b1c")


@pytest.fixture(scope="module")
def page(browser, app_url, artifacts_dir):
    """The app after a quick start: the digits model trained, the Latent map drawn."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []  # every URL the browser asks for, from the first page on
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.requests = requests
    page.sent_frames = []  # websocket frames the browser sent (server round trips)
    page.on(
        "websocket",
        lambda ws: ws.on("framesent", lambda f: page.sent_frames.append(time.monotonic())),
    )
    page.goto(app_url)
    page.get_by_role("button", name=QUICK_START).click()
    # Home has a figure of its own: wait for the Latent map page before waiting for a graph.
    page.get_by_role("heading", name="Latent map").wait_for(timeout=120_000)
    keyed_graph(page, "map_chart")  # the quick start switches to the Latent map once trained
    wait_idle(page)
    page.screenshot(path=str(artifacts_dir / "01-latent-map.png"))
    yield page
    context.close()


def _shot(page, artifacts_dir, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / name))


def test_quick_start_lands_on_a_drawn_map(page) -> None:
    assert "Latent map" in page.locator("h1").first.inner_text()
    gd = keyed_graph(page, "map_chart")
    n_points = gd.evaluate(
        "gd => gd._fullData.filter(t => t.customdata && t.mode === 'markers')"
        ".reduce((n, t) => n + t.x.length, 0)"
    )
    assert n_points > 100  # the digits test set, drawn
    assert not exceptions(page)


PICTURE = ".st-key-map_decoded img"  # the clicked z's picture, drawn by the browser


def _picture(page) -> str:
    return page.locator(PICTURE).first.get_attribute("src") or ""


def _wait_new_picture(page, before: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (now := _picture(page)) and now != before:
            return now
        time.sleep(0.02)
    raise TimeoutError("the decoded picture did not change")


def _marker_at(page) -> tuple[float, float]:
    """Where the map layer draws the clicked z's ring (it marks the z it drew last)."""
    z = last_mark(page, "vx:map-layer:map_chart")["clicked"]
    return to_page(keyed_graph(page, "map_chart"), *z)


def test_click_on_empty_space_then_on_a_point_decodes_each(page, artifacts_dir) -> None:
    gd = keyed_graph(page, "map_chart")
    spot = empty_spots(gd, 1)[0]
    at = to_page(gd, *spot)
    before = _picture(page)
    page.mouse.click(*at)
    after_empty = _wait_new_picture(page, before)
    wait_idle(page)
    assert "empty space" in page.locator("body").inner_text()
    _shot(page, artifacts_dir, "02-click-empty.png")
    # the decoded z is the exact clicked spot (to the 3 decimals shown), in the picture's
    # caption and in the panel under it alike (both drawn by the browser)
    for text in (
        page.locator(".st-key-map_decoded figcaption").inner_text(),
        page.locator(".st-key-map_click_panel", has_text="z = (").first.inner_text(),
    ):
        assert f"{spot[0]:.3f}" in text and f"{spot[1]:.3f}" in text
    # the marker sits where the click was, after the panel's rerun too
    assert np.allclose(_marker_at(page), at, atol=2)

    x, y, index = lonely_points(gd, 1)[0]
    page.mouse.click(*to_page(gd, x, y))
    after_point = _wait_new_picture(page, after_empty)
    page.get_by_text(f"test point #{index}").wait_for()
    wait_idle(page)
    _shot(page, artifacts_dir, "03-click-point.png")
    assert after_point != after_empty  # the picture changed
    assert np.allclose(_marker_at(page), to_page(gd, x, y), atol=2)
    # the original, the reconstruction and the decodes of mu + sigma * eps
    for name in ("original", "reconstruction", "samples"):
        assert page.locator(f".st-key-map_click_panel canvas.vx-cp-{name}").count() == 1, name
    assert not exceptions(page)


def test_zoom_survives_a_click(page, artifacts_dir) -> None:
    gd = keyed_graph(page, "map_chart")
    full = axis_ranges(gd)
    box = gd.locator(".nsewdrag").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 120, cy - 100)  # drag a zoom box over the middle of the map
    page.mouse.down()
    page.mouse.move(cx, cy, steps=8)
    page.mouse.move(cx + 120, cy + 100, steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)
    zoomed = axis_ranges(gd)
    assert zoomed != full and zoomed[0][1] - zoomed[0][0] < full[0][1] - full[0][0]

    before = _picture(page)
    spot = empty_spots(gd, 1)[0]
    page.mouse.click(*to_page(gd, *spot))
    _wait_new_picture(page, before)
    wait_idle(page)
    _shot(page, artifacts_dir, "04-zoomed-click.png")
    assert axis_ranges(keyed_graph(page, "map_chart")) == zoomed
    assert not exceptions(page)


def test_quick_clicks_on_two_spots_keep_the_zoom_and_a_double_click_resets_it(page) -> None:
    # Plotly takes any two presses within 300 ms for a double-click (which resets the axes
    # and redraws the whole map); two spots apart are two clicks. Runs on the zoomed map left
    # by the test before.
    gd = keyed_graph(page, "map_chart")
    zoomed = axis_ranges(gd)
    first, second = (to_page(gd, *spot) for spot in empty_spots(gd, 2))
    before = _picture(page)
    page.mouse.click(*first)
    page.mouse.click(*second)  # well within 300 ms of the first
    _wait_new_picture(page, before)
    wait_idle(page)
    assert axis_ranges(keyed_graph(page, "map_chart")) == zoomed
    page.mouse.dblclick(*second)  # one spot, twice: Plotly's reset, as the caption says
    # Plotly's reset redraws the whole map: on a loaded CI machine that took longer than a
    # fixed 500 ms (seen once), so wait for the axes to move, up to 10 s.
    gd = keyed_graph(page, "map_chart")
    for _ in range(100):
        if axis_ranges(gd) != zoomed:
            break
        page.wait_for_timeout(100)
    assert axis_ranges(gd) != zoomed
    wait_idle(page)
    assert not exceptions(page)


def _picture_digest(page) -> str:
    """A hash of the scrubber's picture as drawn (pixels, not data)."""
    box = page.locator(SCRUB_PICTURE).bounding_box()
    return hashlib.sha1(page.screenshot(clip=box)).hexdigest()


def test_interpolation_scrubs_live_without_the_server(page, artifacts_dir) -> None:
    page.locator(NAV, has_text="Interpolate").click()
    page.wait_for_function("performance.getEntriesByName('vx:scrub').length", timeout=120_000)
    keyed_graph(page, "interp_map")  # the path map, where the scrubber marks z too
    wait_idle(page)
    _shot(page, artifacts_dir, "05-interpolate.png")
    slider = page.locator(SCRUB_RANGE).bounding_box()
    readout = page.locator(".st-key-interp_scrub .vx-scrub-readout")
    seen, texts = {_picture_digest(page)}, {readout.inner_text()}
    sent_before = len(page.sent_frames)
    y = slider["y"] + slider["height"] / 2
    page.mouse.move(slider["x"] + 8, y)
    page.mouse.down()
    for k in range(1, 7):  # still pressed: every digest here is taken during the drag
        page.mouse.move(slider["x"] + 8 + (slider["width"] - 16) * k / 6, y, steps=3)
        page.wait_for_timeout(60)
        seen.add(_picture_digest(page))
        texts.add(readout.inner_text())
    _shot(page, artifacts_dir, "06-scrubbing.png")
    page.mouse.up()
    assert len(seen) >= 4  # the picture followed the drag
    assert len(texts) >= 4 and "t = 1.00" in readout.inner_text()  # t and z follow too
    # keyboard: the slider is focusable, and an arrow key steps back one frame
    page.locator(SCRUB_RANGE).focus()
    last = int(scrub_frame(page))
    page.keyboard.press("ArrowLeft")
    assert int(scrub_frame(page)) == last - 1
    # Play walks the path by itself until pressed again
    play = page.locator(".st-key-interp_scrub .vx-scrub-play")
    play.click()
    page.wait_for_timeout(300)
    play.click()
    assert scrub_frame(page) != str(last - 1)
    # the path, its two waypoints and the current z are drawn over the path map as well
    overlay = page.locator(".st-key-interp_map .vx-scrub-overlay")
    assert overlay.locator("polyline").count() == 1
    assert overlay.locator("circle[cx]").count() == 2
    assert overlay.locator(".vx-scrub-marker").count() == 1
    assert len(page.sent_frames) == sent_before  # no server round trip while scrubbing
    assert not exceptions(page)


def test_interpolation_downloads_the_strip_and_the_animation(page, artifacts_dir) -> None:
    """The PNG is sent with the page; the GIF is only built when its button is pressed."""
    expected = {"Download the strip (PNG)": b"\x89PNG", "Download the animation (GIF)": b"GIF8"}
    for label, magic in expected.items():
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name=label).click()
        assert Path(download.value.path()).read_bytes().startswith(magic), label
        wait_idle(page)
    wait_idle(page)
    assert not exceptions(page)


def test_a_click_on_the_interpolation_map_adds_a_waypoint(page, artifacts_dir) -> None:
    gd = keyed_graph(page, "interp_map")
    waypoints = page.locator(".st-key-interp_map .vx-scrub-overlay circle[cx]")
    before = waypoints.count()
    # The downloads above scrolled the page down to their buttons, past the map's top: the
    # mouse clicks where a person could, on the map in the window (to_page is window pixels).
    gd.scroll_into_view_if_needed()
    spot = empty_spots(gd, 1)[0]
    page.mouse.click(*to_page(gd, *spot))
    page.wait_for_function(
        "n => document.querySelectorAll('.st-key-interp_map .vx-scrub-overlay circle[cx]')"
        ".length > n",
        arg=before,
        timeout=60_000,
    )
    wait_idle(page)
    _shot(page, artifacts_dir, "07-interpolate-waypoint.png")
    assert waypoints.count() == before + 1
    # the path now ends at the clicked z, as the scrubber's last step shows
    page.locator(SCRUB_RANGE).focus()
    page.keyboard.press("End")
    readout = page.locator(".st-key-interp_scrub .vx-scrub-readout").inner_text()
    assert "t = 1.00" in readout
    shown = readout.replace("\u2212", "-").split("(")[1].split(")")[0].split(",")
    assert abs(float(shown[0]) - spot[0]) < 2e-3 and abs(float(shown[1]) - spot[1]) < 2e-3
    assert not exceptions(page)


def test_every_page_runs_without_an_exception_or_a_request_off_the_machine(
    page, artifacts_dir
) -> None:
    titles = [t.strip().split("\n")[-1] for t in page.locator(NAV).all_inner_texts()]  # no icon
    assert {"Home", "Train", "Latent map", "Interpolate", "Models"} <= set(titles)
    assert len(titles) >= 10, titles
    for i, title in enumerate(titles):
        page.locator(NAV).nth(i).click()
        page.wait_for_timeout(300)
        with contextlib.suppress(TimeoutError):  # a page that polls never idles: look anyway
            wait_idle(page, timeout=60)
        page.wait_for_timeout(500)  # images, fonts and the favicon load after the run
        _shot(page, artifacts_dir, f"10-page-{i:02d}.png")
        assert not exceptions(page), f"{title}: {exceptions(page)}"

    remote_all = [url for url in page.requests if leaves_the_machine(url)]
    remote = sorted(set(remote_all))
    (artifacts_dir / "offline-requests.txt").write_text(
        f"{len(page.requests)} requests, {len(remote_all)} off the machine "
        f"({len(remote)} distinct):\n" + "\n".join(remote)
    )
    assert len(page.requests) > 20, "the recorder saw too little to vouch for anything"
    assert not remote, f"{len(remote)} requests leave the machine: {remote}"

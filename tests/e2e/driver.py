"""Driving the running app from Playwright: waiting for Streamlit, finding pixels on Plotly charts.

Shared by tests/e2e and the browser benchmarks in bench/ (which add the repository root to
sys.path). Everything reads the live chart (`gd._fullLayout`), so clicks land where the
data are whatever the window size or zoom.
"""

from __future__ import annotations

import json
import time

CHART = '[data-testid="stPlotlyChart"]'
EXCEPTION = '[data-testid="stException"]'
RUNNING = '[data-testid="stStatusWidget"]'

# data (x, y) -> page pixels on a Plotly graph div.
_TO_PAGE_JS = """
(gd, xy) => {
  const fl = gd._fullLayout, r = gd.getBoundingClientRect();
  return [r.left + fl.xaxis._offset + fl.xaxis.l2p(xy[0]),
          r.top + fl.yaxis._offset + fl.yaxis.l2p(xy[1])];
}
"""

# The k visible spots farthest (in pixels) from every data point, 40 px apart: "empty space".
_EMPTY_SPOTS_JS = """
([gd, k]) => {
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
  const pts = [];
  for (const t of gd._fullData) {
    if (!t.customdata || t.mode !== 'markers') continue;
    for (let i = 0; i < t.x.length; i++) pts.push([xa.l2p(t.x[i]), ya.l2p(t.y[i])]);
  }
  const cands = [];
  for (let a = 1; a < 20; a++) for (let b = 1; b < 20; b++) {
    const px = xa._length * a / 20, py = ya._length * b / 20;
    let d = Infinity;
    for (const p of pts) d = Math.min(d, (p[0] - px) ** 2 + (p[1] - py) ** 2);
    cands.push([d, px, py]);
  }
  cands.sort((u, v) => v[0] - u[0]);
  const chosen = [];
  for (const c of cands) {
    if (chosen.every(o => (o[1] - c[1]) ** 2 + (o[2] - c[2]) ** 2 > 1600)) chosen.push(c);
    if (chosen.length === k) break;
  }
  return chosen.map(c => [xa.p2l(c[1]), ya.p2l(c[2])]);
}
"""

# The k data points farthest from their neighbours (a click surely hits them): [x, y, index].
_LONELY_POINTS_JS = """
([gd, k]) => {
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis;
  const pts = [];
  for (const t of gd._fullData) {
    if (!t.customdata || t.mode !== 'markers') continue;
    for (let i = 0; i < t.x.length; i++) pts.push([t.x[i], t.y[i], t.customdata[i]]);
  }
  const px = pts.map(p => [xa.l2p(p[0]), ya.l2p(p[1])]);
  const inside = (q) => q[0] > 10 && q[0] < xa._length - 10 && q[1] > 10 && q[1] < ya._length - 10;
  const scored = [];
  for (let i = 0; i < Math.min(pts.length, 400); i++) {
    if (!inside(px[i])) continue;
    let d = Infinity;
    for (let j = 0; j < px.length; j++) if (j !== i)
      d = Math.min(d, (px[i][0] - px[j][0]) ** 2 + (px[i][1] - px[j][1]) ** 2);
    scored.push([d, i]);
  }
  scored.sort((u, v) => v[0] - u[0]);
  return scored.slice(0, k).map(s => pts[s[1]]);
}
"""


def wait_idle(page, timeout: float = 60.0, quiet: float = 0.4) -> None:
    """Until no script run is in progress (Streamlit's status widget gone) for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        if page.locator(RUNNING).count() == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet:
                return
        else:
            quiet_since = None
        time.sleep(0.05)
    raise TimeoutError("the app kept running")


def graph(page, nth: int = 0):
    """The nth Plotly graph div on the page, once drawn."""
    locator = page.locator(f"{CHART} .js-plotly-plot").nth(nth)
    locator.locator(".scatterlayer, .heatmaplayer").first.wait_for(timeout=120_000)
    return locator


def keyed_graph(page, key: str):
    """The Plotly graph div of the st.plotly_chart with this key, once drawn.

    Waits for the plot area's drag layer, which every cartesian chart has: a map of WebGL
    points has an empty (invisible) SVG scatter layer.
    """
    locator = page.locator(f".st-key-{key} .js-plotly-plot").first
    locator.locator(".nsewdrag").first.wait_for(timeout=120_000)
    return locator


def to_page(graph_locator, x: float, y: float) -> tuple[float, float]:
    return tuple(graph_locator.evaluate(_TO_PAGE_JS, [x, y]))


def empty_spots(graph_locator, k: int = 1) -> list[tuple[float, float]]:
    handle = graph_locator.element_handle()
    return [tuple(p) for p in graph_locator.page.evaluate(_EMPTY_SPOTS_JS, [handle, k])]


def lonely_points(graph_locator, k: int = 1) -> list[tuple[float, float, int]]:
    handle = graph_locator.element_handle()
    found = graph_locator.page.evaluate(_LONELY_POINTS_JS, [handle, k])
    return [(x, y, int(index)) for x, y, index in found]


def axis_ranges(graph_locator) -> tuple[list[float], list[float]]:
    return tuple(
        graph_locator.evaluate("gd => [gd._fullLayout.xaxis.range, gd._fullLayout.yaxis.range]")
    )


def image_sources(page) -> list[str]:
    """The src of every st.image on the page (Streamlit names media files by content hash)."""
    return page.locator('[data-testid="stImage"] img').evaluate_all("els => els.map(e => e.src)")


def wait_for_new_image(page, before: list[str], timeout: float = 30.0) -> list[str]:
    """Until the first st.image's source differs from before[0] (or one appears)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = image_sources(page)
        if now and (not before or now[0] != before[0]):
            return now
        time.sleep(0.02)
    raise TimeoutError("the decoded image did not change")


CLICK_PANEL = ".st-key-map_click_panel .vx-click-panel"


def click_panel_shown(page) -> dict | None:
    """What the Latent map's browser-drawn click panel shows once complete ({z, index, seed}),
    else None (no panel, or its pictures still being drawn)."""
    panel = page.locator(CLICK_PANEL)
    if panel.count() == 0 or panel.get_attribute("data-complete") != "true":
        return None
    return json.loads(panel.get_attribute("data-shown") or "null")


def exceptions(page) -> list[str]:
    return page.locator(EXCEPTION).all_inner_texts()


# The interpolation scrubber (ui/components/web/scrubber.js): its slider, and the canvas it draws frames on.
SCRUB_RANGE = ".st-key-interp_scrub input.vx-scrub-range"
SCRUB_PICTURE = ".st-key-interp_scrub canvas.vx-scrub-picture"


def scrub_frame(page) -> str | None:
    """The index of the frame the scrubber last drew (its performance mark), as a string."""
    frame = page.evaluate("performance.getEntriesByName('vx:scrub').pop()?.detail.frame")
    return None if frame is None else str(frame)


def open_shipped_fashion(page, base: str) -> None:
    """Home's "Open Fashion-MNIST" (the model shipped with the app), in this page's session;
    returns once the latent map is drawn and the page idle."""
    page.goto(base + "/")
    page.get_by_role("button", name="Open Fashion-MNIST").wait_for(timeout=120_000)
    wait_idle(page, timeout=120)
    page.get_by_role("button", name="Open Fashion-MNIST").click()
    page.wait_for_url("**/latent_map**", timeout=180_000)
    keyed_graph(page, "map_chart")
    wait_idle(page, timeout=180, quiet=1.0)


# Every rendered SVG text of every Plotly chart: [font size in px, its text, its height in px].
PLOT_TEXT_SIZES_JS = """
() => {
  const out = [];
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    for (const t of gd.querySelectorAll('svg text')) {
      if (!t.textContent.trim() || t.closest('.hoverlayer')) continue;
      const box = t.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      out.push([parseFloat(getComputedStyle(t).fontSize), t.textContent.slice(0, 40), box.height]);
    }
  }
  return out;
}
"""

# Visible fixed or sticky elements (not the page's own frame): [test id or class, rect].
FLOATING_JS = """
() => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const style = getComputedStyle(el);
    if (style.position !== 'fixed' && style.position !== 'sticky') continue;
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) continue;
    if (el.querySelector('.js-plotly-plot, [data-testid="stMain"]')) continue;  // a page frame
    out.push([el.getAttribute('data-testid') || el.className.toString().slice(0, 60),
              [r.left, r.top, r.right, r.bottom]]);
  }
  return out;
}
"""


def floating_elements(page) -> list[tuple[str, list[float]]]:
    return [(name, rect) for name, rect in page.evaluate(FLOATING_JS)]


def overlaps(a, b) -> bool:
    """Whether two [left, top, right, bottom] rectangles share any area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def rect(locator) -> list[float]:
    box = locator.bounding_box()
    return [box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]]


# What a page shows: its drawn charts, pictures, and any spinner or status still running.
_CONTENT_JS = """
() => [document.querySelectorAll('.js-plotly-plot .main-svg').length,
       document.querySelectorAll('[data-testid="stImage"] img, canvas').length,
       document.querySelectorAll('[data-testid="stSpinner"], [data-testid="stStatusWidget"]')
         .length]
"""


def wait_settled(page, timeout: float = 400.0, quiet: float = 3.0) -> None:
    """Until the page has stopped running and its charts and pictures have not changed in
    number for `quiet` seconds (a page switch draws its charts a while after its first run)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = page.evaluate(_CONTENT_JS)
        if now != last or now[2]:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the page kept changing: {last}")

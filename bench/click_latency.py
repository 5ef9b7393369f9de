"""Click on the latent map -> decoded image, against Streamlit's own button -> image round trip.

Both are timed in the same Chromium, in the same run, interleaved click by click: from the
pointerdown event to the new picture decoded in the page. The map is the real app: a quick
start on digits from Home (what a newcomer gets), and the Latent map page on a model of the
real MNIST test set (10,000 points, through bench/apps/latent_harness.py).

Fair by construction: both sides show a 168 px greyscale PNG made by ui.latent_images.to_image,
and every click asks for a picture never shown before (the button draws a new random image; the
map clicks a different data point each time, or an empty spot moved by a few pixels), so no
side is helped by the browser's image cache.

The map's picture of the clicked z is drawn by the browser (ui/components/map_decoder.js: the MLP
decoder's weights are on the page), so the map side times that picture; the rest of the panel
(the example's original, the decodes of mu + sigma * eps) comes with the fragment's rerun.
Also printed, timed in the page from pointerdown: when the rerun request left on the websocket
("request"), the first and the last reply of that rerun ("first reply", "panel done"). For
the button, the picture arrives with those replies.

Usage: .venv/bin/python bench/click_latency.py [--clicks 20] [--record]
Target: median(map click) <= 1.15 x median(button).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latent_bench import (  # noqa: E402
    CLICK_CLOCK_JS,
    ROOT,
    WAIT_NEW_IMAGE_JS,
    append_results,
    chromium,
    machine,
    median,
    mnist_test,
    quick_model,
    save_harness_inputs,
    server,
)
from tests.e2e.driver import empty_spots, keyed_graph, lonely_points, to_page, wait_idle  # noqa: E402

QUICK_START = "Train on digits"
WARM_UP = 2  # clicks per contender before timing: first decode, first image fetch
SPOTS = 4  # empty spots used in turn; each round moves them by JITTER_PX
JITTER_PX = 2
VIEWPORT = {"width": 1400, "height": 1000}

# Installed before the app loads: stamps (performance.now()) of websocket traffic after the
# last pointerdown, so that a click can be split into stages. Wraps the WebSocket constructor
# only to add listeners; nothing is delayed.
STAGE_HOOKS_JS = """
(() => {
  const S = (window.__vxStages = { down: 0, send: null, replies: [] });
  window.addEventListener('pointerdown', () => {
    S.down = performance.now(); S.send = null; S.replies = [];
  }, true);
  const Native = window.WebSocket;
  function Hooked(...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', () => { if (S.send !== null) S.replies.push(performance.now()); });
    const send = ws.send.bind(ws);
    ws.send = (data) => { if (S.send === null && S.down) S.send = performance.now(); return send(data); };
    return ws;
  }
  Hooked.prototype = Native.prototype;
  Object.assign(Hooked, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Hooked;
})();
"""

STAGES = ("request", "first reply", "panel done")
ST_IMAGE = '[data-testid="stImage"] img'
MAP_PICTURE = (
    ".st-key-map_decoded img"  # ui/components/map_decoder.py's picture (key "map_decoded")
)


class Target:
    """One page with something to click; `click(i)` performs the i-th click."""

    def __init__(self, page, where, picture: str) -> None:
        """where(i) -> the page pixel of the i-th click; picture: CSS selector of the picture."""
        self.page, self.where, self.picture = page, where, picture
        page.evaluate(CLICK_CLOCK_JS)

    def _src(self) -> str:
        imgs = self.page.locator(self.picture)
        return imgs.first.get_attribute("src") if imgs.count() else ""

    def click(self, i: int) -> tuple[float, dict[str, float]]:
        """ms from pointerdown to the new picture decoded, and the rerun's STAGES (ms)."""
        before = self._src()
        xy = self.where(i)
        self.page.mouse.click(*xy)
        ms, _ = self.page.evaluate(WAIT_NEW_IMAGE_JS, [before, 0, self.picture])
        if ms is None:
            self.page.screenshot(path=str(ROOT / "artifacts" / "e2e" / "bench-click-failed.png"))
            raise RuntimeError(f"click {i} at {xy} showed no new picture")
        wait_idle(self.page, quiet=0.15)  # the rerun is over: all its replies are in
        hooks = self.page.evaluate("window.__vxStages")
        return ms, _stages(hooks)


def _stages(hooks) -> dict[str, float]:
    """The rerun's STAGES in ms after pointerdown, from the page's websocket stamps."""
    if hooks["send"] is None or not hooks["replies"]:
        return {}
    marks = (hooks["send"], hooks["replies"][0], hooks["replies"][-1])
    return {name: t - hooks["down"] for name, t in zip(STAGES, marks, strict=True)}


def new_page(browser, url: str):
    page = browser.new_page(viewport=VIEWPORT)
    page.add_init_script(STAGE_HOOKS_JS)
    page.goto(url)
    return page


def button_target(browser, url: str) -> Target:
    page = new_page(browser, url)
    button = page.get_by_role("button", name="New image")
    button.wait_for()
    wait_idle(page)
    box = button.bounding_box()
    return Target(
        page, lambda i: (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2), ST_IMAGE
    )


def map_targets(page, clicks: int) -> dict[str, Target]:
    """Empty-space clicks and data-point clicks on the map of an already open Latent map page.

    Spots are found on the chart as it is at each click: a different data point every click
    (the most isolated ones, so a click surely hits them), and SPOTS empty spots far from any
    point, used in turn and moved JITTER_PX each round (a new z, a new picture).
    """
    keyed_graph(page, "map_chart")
    wait_idle(page)
    page.wait_for_timeout(500)  # let the layout settle (legend, sidebar)

    def empty(i: int) -> tuple[float, float]:
        gd = keyed_graph(page, "map_chart")
        x, y = to_page(gd, *empty_spots(gd, SPOTS)[i % SPOTS])
        return x + JITTER_PX * (i // SPOTS), y

    def point(i: int) -> tuple[float, float]:
        gd = keyed_graph(page, "map_chart")
        found = lonely_points(gd, clicks)
        x, y, _ = found[i % len(found)]
        return to_page(gd, x, y)

    return {
        "empty space": Target(page, empty, MAP_PICTURE),
        "data point": Target(page, point, MAP_PICTURE),
    }


def quick_start_page(browser, url: str):
    page = new_page(browser, url)
    page.get_by_role("button", name=QUICK_START).click()
    page.get_by_role("heading", name="Latent map").wait_for(timeout=120_000)
    keyed_graph(page, "map_chart")
    return page


def run(clicks: int, record: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        x, y = mnist_test()
        print("a quick model of the MNIST test set (10,000 points; cached)...", flush=True)
        save_harness_inputs(Path(tmp), quick_model(x, epochs=2), x, y, "mnist-test")
        print("starting the servers and Chromium; quick start on digits...", flush=True)
        harness = ROOT / "bench" / "apps" / "latent_harness.py"
        with (
            server(ROOT / "bench" / "apps" / "ref_button.py") as ref_url,
            server(ROOT / "app.py") as app_url,
            server(harness, {"BENCH_INPUTS": tmp}) as harness_url,
            chromium() as browser,
        ):
            total = WARM_UP + clicks
            targets = {"button (reference)": button_target(browser, ref_url)}
            for name, target in map_targets(quick_start_page(browser, app_url), total).items():
                targets[f"digits map, {name}"] = target
            for name, target in map_targets(new_page(browser, harness_url), total).items():
                targets[f"MNIST 10k map, {name}"] = target
            print("measuring...", flush=True)
            times: dict[str, list[float]] = {name: [] for name in targets}
            stages: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for i in range(total):  # interleaved, so that drift hits every contender alike
                for name, target in targets.items():
                    ms, split = target.click(i)
                    if i >= WARM_UP:
                        times[name].append(ms)
                        stages[name].append(split)
            for name, target in targets.items():
                target.page.screenshot(
                    path=str(ROOT / "artifacts" / "e2e" / f"bench-click-{name.split()[0]}.png")
                )
    print(report(times, stages, clicks))
    if record:
        append_results(report(times, stages, clicks))


def report(times: dict[str, list[float]], stages: dict[str, list[dict]], clicks: int) -> str:
    reference = median(times["button (reference)"])
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [
        f"## Click -> decoded image ({clicks} clicks each, interleaved)",
        "",
        f"Machine: {machine()}; load average {load} (1/5/15 min) at the end",
        "",
        "| what | picture, median ms | ratio to button | " + " | ".join(STAGES) + " |",
        "|---|---|---|" + "---|" * len(STAGES),
    ]
    for name, values in times.items():
        split = [s for s in stages[name] if s]
        parts = [f"{median([s[k] for s in split]):.0f}" if split else "-" for k in STAGES]
        ratio = median(values) / reference
        lines.append(f"| {name} | {median(values):.0f} | {ratio:.2f} | " + " | ".join(parts) + " |")
    lines += [
        "",
        "Target: map click <= 1.15 x button. Measured in the page from pointerdown to the new "
        "picture decoded. request / first reply / panel done: ms after pointerdown (medians) "
        "when the rerun request left and its first and last replies came in.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument(
        "--record", action="store_true", help="append the table to bench/RESULTS.md"
    )
    args = parser.parse_args()
    run(args.clicks, args.record)

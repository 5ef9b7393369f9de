"""Click on the latent map -> decoded image, against Streamlit's own button -> image round trip.

Both are timed in the same Chromium, in the same run, interleaved click by click: from the
pointerdown event to the new picture decoded in the page. The map is the real app: a quick
start on digits from Home (what a newcomer gets), and the Latent map page on a model of the
real MNIST test set (10,000 points, through bench/apps/latent_harness.py).

Usage: .venv/bin/python bench/click_latency.py [--clicks 20] [--record]
Target: median(map click) <= 1.15 x median(button).
"""

from __future__ import annotations

import argparse
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

QUICK_START = "Quick start: train on digits"


class Target:
    """One page with something to click; `click(i)` performs the i-th click and returns ms."""

    def __init__(self, page, where) -> None:
        """where(i) -> the page pixel of the i-th click."""
        self.page, self.where, self.image_nth = page, where, 0
        page.evaluate(CLICK_CLOCK_JS)

    def _src(self) -> str:
        imgs = self.page.locator('[data-testid="stImage"] img')
        return (
            imgs.nth(self.image_nth).get_attribute("src") if imgs.count() > self.image_nth else ""
        )

    def click(self, i: int) -> float:
        before = self._src()
        xy = self.where(i)
        self.page.mouse.click(*xy)
        ms, _ = self.page.evaluate(WAIT_NEW_IMAGE_JS, [before, self.image_nth])
        wait_idle(self.page, quiet=0.15)
        if ms is None:
            self.page.screenshot(path=str(ROOT / "artifacts" / "e2e" / "bench-click-failed.png"))
            raise RuntimeError(
                f"click {i} at {self.spots[i % len(self.spots)]} showed no new image"
            )
        return ms


def button_target(browser, url: str) -> Target:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    button = page.get_by_role("button", name="New image")
    button.wait_for()
    wait_idle(page)
    box = button.bounding_box()
    return Target(page, lambda i: (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2))


def map_targets(page) -> dict[str, Target]:
    """Empty-space clicks and data-point clicks on the map of an already open Latent map page.

    Spots are found on the chart as it is at each click (4 well-separated ones, used in turn).
    """
    keyed_graph(page, "map_chart")
    wait_idle(page)
    page.wait_for_timeout(500)  # let the layout settle (legend, sidebar)

    def empty(i: int) -> tuple[float, float]:
        gd = keyed_graph(page, "map_chart")
        return to_page(gd, *empty_spots(gd, 4)[i % 4])

    def point(i: int) -> tuple[float, float]:
        gd = keyed_graph(page, "map_chart")
        x, y, _ = lonely_points(gd, 4)[i % 4]
        return to_page(gd, x, y)

    return {"empty space": Target(page, empty), "data point": Target(page, point)}


def quick_start_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_role("button", name=QUICK_START).click()
    keyed_graph(page, "map_chart")
    return page


def run(clicks: int, record: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        x, y = mnist_test()
        print("training a quick model on the MNIST test set (10,000 points)...", flush=True)
        save_harness_inputs(Path(tmp), quick_model(x, epochs=2), x, y, "mnist-test")
        print("starting the servers and Chromium; quick start on digits...", flush=True)
        harness = ROOT / "bench" / "apps" / "latent_harness.py"
        with (
            server(ROOT / "bench" / "apps" / "ref_button.py") as ref_url,
            server(ROOT / "app.py") as app_url,
            server(harness, {"BENCH_INPUTS": tmp}) as harness_url,
            chromium() as browser,
        ):
            targets = {"button (reference)": button_target(browser, ref_url)}
            for name, target in map_targets(quick_start_page(browser, app_url)).items():
                targets[f"digits map, {name}"] = target
            mnist_page = browser.new_page(viewport={"width": 1400, "height": 1000})
            mnist_page.goto(harness_url)
            for name, target in map_targets(mnist_page).items():
                targets[f"MNIST 10k map, {name}"] = target
            print("measuring...", flush=True)
            for target in targets.values():  # warm-up: first decode, first image fetch
                for i in range(3):
                    target.click(i)
            times: dict[str, list[float]] = {name: [] for name in targets}
            for i in range(clicks):  # interleaved, so that drift hits every contender alike
                for name, target in targets.items():
                    times[name].append(target.click(i))
            for name, target in targets.items():
                target.page.screenshot(
                    path=str(ROOT / "artifacts" / "e2e" / f"bench-click-{name.split()[0]}.png")
                )

    reference = median(times["button (reference)"])
    lines = [
        f"## Click -> decoded image ({clicks} clicks each, interleaved)",
        "",
        f"Machine: {machine()}",
        "",
    ]
    lines += ["| what | median ms | ratio to button |", "|---|---|---|"]
    for name, values in times.items():
        lines.append(f"| {name} | {median(values):.0f} | {median(values) / reference:.2f} |")
    lines.append("")
    lines.append(
        "Target: map click <= 1.15 x button. Measured in-page from pointerdown to the new image decoded."
    )
    report = "\n".join(lines)
    print(report)
    if record:
        append_results(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument(
        "--record", action="store_true", help="append the table to bench/RESULTS.md"
    )
    args = parser.parse_args()
    run(args.clicks, args.record)

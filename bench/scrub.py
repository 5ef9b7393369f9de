"""Scrubbing the interpolation: ms per frame while dragging Plotly's slider, and server traffic.

The Interpolate page of the real app (through bench/apps/latent_harness.py, on a model of
the real MNIST test set, 28x28 pictures). The slider grip is pressed and dragged across the
rail in single pointer moves; each move is timed in the page from the pointermove event to
the first animation frame after the decoded picture (the heatmap's image) has changed.
Websocket frames in both directions are counted during the drag.

Usage: .venv/bin/python bench/scrub.py [--moves 40] [--record]
Target: <= 50 ms per frame, no server round trip.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latent_bench import (  # noqa: E402
    ROOT,
    append_results,
    chromium,
    machine,
    median,
    mnist_test,
    quick_model,
    save_harness_inputs,
    server,
)
from tests.e2e.driver import keyed_graph, wait_idle  # noqa: E402

MOVE_CLOCK_JS = """
() => { window.addEventListener('pointermove', () => { window.__vxMove = performance.now(); }, true); }
"""

# ms from the last pointermove to the frame after the picture changed (null: it did not).
WAIT_PICTURE_JS = """
async ([before, nth]) => {
  const gd = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[nth];
  const deadline = performance.now() + 2000;
  while (performance.now() < deadline) {
    const img = gd.querySelector('.heatmaplayer image');
    if (img && img.getAttribute('href') !== before) {
      await new Promise(r => requestAnimationFrame(r));
      return performance.now() - window.__vxMove;
    }
    await new Promise(r => setTimeout(r, 1));
  }
  return null;
}
"""


def run(moves: int, record: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        x, y = mnist_test()
        print("training a quick model on the MNIST test set...", flush=True)
        save_harness_inputs(Path(tmp), quick_model(x, epochs=2), x, y, "mnist-test")
        harness = ROOT / "bench" / "apps" / "latent_harness.py"
        with server(harness, {"BENCH_INPUTS": tmp}) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            frames = {"sent": 0, "received": 0}

            def count(ws) -> None:
                ws.on("framesent", lambda _: frames.__setitem__("sent", frames["sent"] + 1))
                ws.on(
                    "framereceived",
                    lambda _: frames.__setitem__("received", frames["received"] + 1),
                )

            page.on("websocket", count)
            page.goto(url + "/interpolate")
            scrub = keyed_graph(page, "interp_scrub")
            scrub.locator(".heatmaplayer image").first.wait_for()
            wait_idle(page)
            page.evaluate(MOVE_CLOCK_JS)
            grip = scrub.locator(".slider-grip-rect").first.bounding_box()
            rail = scrub.locator(".slider-rail-rect").first.bounding_box()
            y_mid = grip["y"] + grip["height"] / 2
            page.mouse.move(grip["x"] + grip["width"] / 2, y_mid)
            page.mouse.down()
            before_counts = dict(frames)
            times, missed = [], 0
            for k in range(1, moves + 1):
                # back and forth across the rail, one slider step or more per move
                u = k / moves * 2
                u = u if u <= 1 else 2 - u
                href = scrub.locator(".heatmaplayer image").first.get_attribute("href")
                page.mouse.move(rail["x"] + 4 + (rail["width"] - 8) * u, y_mid)
                ms = page.evaluate(WAIT_PICTURE_JS, [href, 1])
                if ms is None:
                    missed += 1  # the move stayed within one step: nothing to redraw
                else:
                    times.append(ms)
            page.mouse.up()
            traffic = {k: frames[k] - before_counts[k] for k in frames}
            page.screenshot(path=str(ROOT / "artifacts" / "e2e" / "bench-scrub.png"))

    lines = [f"## Interpolation scrubbing ({moves} pointer moves while dragging)", ""]
    lines += [
        f"Machine: {machine()}",
        "",
        f"- ms per frame, pointermove -> new picture on screen: median {median(times):.1f}, "
        f"max {max(times):.1f} ({len(times)} frames; {missed} moves without a new step)",
        f"- websocket frames during the drag: {traffic['sent']} sent, {traffic['received']} received",
        "- Target: <= 50 ms per frame and no server round trip.",
    ]
    report = "\n".join(lines)
    print(report)
    if record:
        append_results(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument(
        "--record", action="store_true", help="append the lines to bench/RESULTS.md"
    )
    args = parser.parse_args()
    run(args.moves, args.record)

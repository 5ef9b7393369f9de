"""Scrubbing the interpolation: ms per frame while dragging the scrubber's slider, and traffic.

The Interpolate page of the real app (through bench/apps/latent_harness.py, on a model of
the real MNIST test set, 28x28 pictures). The slider (ui/components/scrubber.js, an <input type=range>)
is pressed and dragged back and forth in single pointer moves; each move is timed in the page
from the pointermove event to the first animation frame after the decoded picture changed
(the scrubber marks the frame it drew on its canvas). Side by side, the same moves are timed
(pointer not pressed: nothing changes) to the next animation frame: the floor any pointer-driven update
pays in this browser. Websocket frames in both directions are counted during the drag.

Usage: .venv/bin/python bench/scrub.py [--moves 40] [--record]
Target: <= 50 ms per frame, no server round trip.
"""

from __future__ import annotations

import argparse
import os
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
from tests.e2e.driver import SCRUB_PICTURE, SCRUB_RANGE, scrub_frame, wait_idle  # noqa: E402

MOVE_CLOCK_JS = """
() => { window.addEventListener('pointermove', () => { window.__vxMove = performance.now(); }, true); }
"""

# ms from the last pointermove to the frame after the picture changed (null: it did not).
WAIT_PICTURE_JS = """
async ([selector, before]) => {
  const frame = () => String(performance.getEntriesByName('vx:scrub').pop()?.detail.frame);
  const deadline = performance.now() + 2000;
  while (performance.now() < deadline) {
    if (frame() !== before) {
      await new Promise(r => requestAnimationFrame(r));
      return performance.now() - window.__vxMove;
    }
    await new Promise(r => setTimeout(r, 1));
  }
  return null;
}
"""

# The floor: ms from the last pointermove to the next animation frame, waiting for nothing.
NEXT_FRAME_JS = """
async () => { await new Promise(r => requestAnimationFrame(r)); return performance.now() - window.__vxMove; }
"""


def drag(page, moves: int, wait_js: str | None) -> tuple[list[float], int]:
    """Press the slider and move it back and forth; time each move with `wait_js`.

    wait_js None: the floor. The same moves without pressing, so nothing changes on screen,
    each timed to the next animation frame.
    """
    box = page.locator(SCRUB_RANGE).bounding_box()
    y_mid = box["y"] + box["height"] / 2
    left, width = box["x"] + 8, box["width"] - 16  # the thumb's centre travels inside this
    page.mouse.move(left, y_mid)
    if wait_js is not None:
        page.mouse.down()
    times, missed = [], 0
    for k in range(1, moves + 1):
        u = k / moves * 2  # there and back, one slider step or more per move
        u = u if u <= 1 else 2 - u
        before = scrub_frame(page)
        page.mouse.move(left + width * u, y_mid)
        if wait_js is None:
            ms = page.evaluate(NEXT_FRAME_JS)
        else:
            ms = page.evaluate(wait_js, [SCRUB_PICTURE, before])
        if ms is None:
            missed += 1  # the move stayed within one step: nothing to redraw
        else:
            times.append(ms)
    if wait_js is not None:
        page.mouse.up()
    return times, missed


def run(moves: int, record: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        x, y = mnist_test()
        print("training a quick model on the MNIST test set...", flush=True)
        save_harness_inputs(Path(tmp), quick_model(x, epochs=2), x, y, "mnist-test")
        harness = ROOT / "bench" / "apps" / "latent_harness.py"
        load_before = os.getloadavg()[0]
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
            page.locator(f"{SCRUB_PICTURE}[data-frame]").wait_for(timeout=300_000)
            wait_idle(page)
            page.evaluate(MOVE_CLOCK_JS)
            before_counts = dict(frames)
            floor, scrub, missed = [], [], 0
            for _ in range(2):  # interleaved: both see the same machine load
                floor += drag(page, moves // 2, None)[0]
                got, miss = drag(page, moves // 2, WAIT_PICTURE_JS)
                scrub += got
                missed += miss
            traffic = {k: frames[k] - before_counts[k] for k in frames}
            page.screenshot(path=str(ROOT / "artifacts" / "e2e" / "bench-scrub.png"))
        load_after = os.getloadavg()[0]

    lines = [f"## Interpolation scrubbing ({len(scrub) + missed} pointer moves while dragging)", ""]
    lines += [
        f"Machine: {machine()}; load average {load_before:.1f} before, {load_after:.1f} after",
        "",
        f"- ms per frame, pointermove -> new picture on screen: median {median(scrub):.1f}, "
        f"max {max(scrub):.1f} ({len(scrub)} frames; {missed} moves without a new step)",
        f"- the same moves -> next animation frame, nothing drawn (the floor): median "
        f"{median(floor):.1f}; scrubbing costs {median(scrub) / median(floor):.2f}x the floor",
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

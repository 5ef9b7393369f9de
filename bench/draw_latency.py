"""Drawing pad: stroke -> the bubble moves, in Chromium, against the server's round trip.

The Draw & encode page of the real app (`streamlit run app.py`), with a library of three
models: the digits quick-start MLP, the default Fashion-MNIST MLP (784-512-256-2) and the
conv architecture on Fashion-MNIST (trained for a moment only: the time to encode does not
depend on how well). For each, 20 mouse strokes are drawn on the pad; drawing_pad.js logs the
time from each input event (every pointermove that starts a frame's update, and the stroke's
pointerup) to the end of the update that redraws the bubble for it. Side by side, for the
same strokes: the server's round trip, from the pointerup to the page showing the server's
own μ of the finished stroke (the rerun the stroke asks for): what each stroke would wait
for if the encoder ran on the server.

Usage: .venv/bin/python bench/draw_latency.py [--strokes 20] [--record]
Target (issue 12): the bubble follows the pen; no round trip per move.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latent_bench import append_results, chromium, machine, median  # noqa: E402
from tests.e2e.conftest import ARTIFACTS, app_server  # noqa: E402
from tests.e2e.driver import wait_idle  # noqa: E402

PAD = ".st-key-draw_pad .vx-pad"
SURFACE = ".st-key-draw_pad .vx-pad-surface"
CAPTION = "Encoded on the server"

# Resolves with ms from the stroke's pointerup to the server caption's next change.
ROUND_TRIP_JS = """
() => {
  window.benchRoundTrip = new Promise((resolve) => {
    let up = null;
    window.addEventListener('pointerup', (e) => { up = e.timeStamp; }, { capture: true, once: true });
    const before = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
      .map((c) => c.textContent).join('|');
    const observer = new MutationObserver(() => {
      const now = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
        .map((c) => c.textContent).join('|');
      if (up !== null && now !== before && now.includes('CAPTION')) {
        observer.disconnect();
        resolve(performance.now() - up);
      }
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}
""".replace("CAPTION", CAPTION)


# From each input event to the pad's drawing of its posterior: the pad marks every update on
# the performance timeline with the input event's timeStamp it answers (web/drawing_pad.js).
PAD_LATENCY_JS = """
() => {
  window.benchPadLatency = [];
  new PerformanceObserver((list) => {
    for (const m of list.getEntriesByName('vx:pad-update'))
      if (m.detail.inputAt !== null)
        window.benchPadLatency.push({ type: m.detail.inputType, ms: m.startTime - m.detail.inputAt });
  }).observe({ type: 'mark' });
}
"""


def build_library(folder: Path) -> list[tuple[str, str]]:
    """Save the three models; returns [(library name, description)]."""
    from dataclasses import replace

    import torch

    from vae import VAE, TrainConfig
    from vae.data import load_dataset
    from vae.library import ModelLibrary
    from vae.metadata import training_metadata
    from vae.recipes import quick_model_config, quick_train
    from vae.train import train

    library = ModelLibrary(folder)
    digits = load_dataset("digits")
    quick = quick_train(digits, "digits", config=TrainConfig(epochs=5))
    library.save("digits", quick.model, quick.metadata)
    fashion = load_dataset("fashion-mnist")
    models = [("digits", f"digits quick-start MLP {quick.model.config.hidden}")]
    for name, architecture, hidden in (
        ("fashion-mlp", "mlp", (512, 256)),
        ("fashion-conv", "conv", (256,)),
    ):
        torch.manual_seed(0)
        config = quick_model_config(fashion, hidden)
        model = VAE(replace(config, architecture=architecture))
        config_train = TrainConfig(epochs=1, batch_size=256)
        result = train(model, fashion.x_train[:3000], fashion.x_test[:500], config_train)
        model.eval()
        library.save(name, model, training_metadata(name, fashion, model, config_train, result))
        models.append((name, f"Fashion-MNIST {architecture} {hidden}"))
    return models


def strokes(page, n: int) -> tuple[list[float], list[float], list[float]]:
    """n strokes (a circle each, 24 moves): (move ms, pointerup ms, server round trip ms)."""
    page.locator(SURFACE).scroll_into_view_if_needed()
    box = page.locator(SURFACE).bounding_box()
    page.evaluate(PAD_LATENCY_JS)
    trips = []
    for k in range(n):
        page.locator(f"{PAD} .vx-pad-clear").click()
        wait_idle(page, quiet=0.2)
        page.evaluate(ROUND_TRIP_JS)
        r = 0.2 + 0.2 * (k % 3) / 2
        pts = [
            (0.5 + r * math.cos(t * 2 * math.pi / 24), 0.5 + r * math.sin(t * 2 * math.pi / 24))
            for t in range(25)
        ]
        at = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in pts]
        page.mouse.move(*at[0])
        page.mouse.down()
        for p in at[1:]:
            page.mouse.move(*p)
            time.sleep(0.016)  # a hand's pace: a move per frame
        page.mouse.up()
        trips.append(page.evaluate("() => window.benchRoundTrip"))
        wait_idle(page, quiet=0.2)
    log = page.evaluate("() => window.benchPadLatency")
    moves = [e["ms"] for e in log if e["type"] == "pointermove"]
    ups = [e["ms"] for e in log if e["type"] == "pointerup"]
    return moves, ups, trips


def run(n: int, record: bool) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        print("training the three models...", flush=True)
        models = build_library(Path(tmp))
        load_before = os.getloadavg()
        with app_server(Path(tmp)) as url, chromium() as browser:
            for name, what in models:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url + "/")
                page.get_by_text("Presenter mode").wait_for(timeout=120_000)
                page.goto(url + f"/draw?model={name}")
                try:
                    page.locator(PAD).wait_for(timeout=300_000)
                except Exception:
                    page.screenshot(path=str(ARTIFACTS / f"bench-draw-{name}.png"), full_page=True)
                    raise
                wait_idle(page, timeout=120)
                moves, ups, trips = strokes(page, n)
                rows.append((what, moves, ups, trips))
                print(what, median(moves), median(ups), median(trips), flush=True)
                page.close()
        load_after = os.getloadavg()

    lines = ["## Drawing pad", ""]
    lines += [
        f"`bench/draw_latency.py --strokes {n}`. Machine: {machine()}; load average "
        f"{load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f} before, "
        f"{load_after[0]:.1f} / {load_after[1]:.1f} / {load_after[2]:.1f} after "
        "(other engineers' training runs shared the 2 cores).",
        "",
        "Median ms from the input event to the bubble redrawn (the encoder in the browser), "
        f"over {n} strokes of 24 moves each (moves within one frame share one update); beside "
        "it, for the same strokes, the server's round trip: pointerup to the page showing the "
        "server's μ of the finished stroke (the fragment rerun each stroke asks for).",
        "",
        "| model | pointermove -> bubble | pointerup -> bubble | pointerup -> server's μ | round trip / bubble |",
        "|---|---|---|---|---|",
    ]
    for what, moves, ups, trips in rows:
        lines.append(
            f"| {what} | {median(moves):.1f} (max {max(moves):.0f}; {len(moves)} updates) | "
            f"{median(ups):.1f} | {median(trips):.0f} | {median(trips) / median(ups):.0f}x |"
        )
    report = "\n".join(lines)
    print(report)
    if record:
        append_results(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=20)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    run(args.strokes, args.record)

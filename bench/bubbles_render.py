"""Latent map with variance bubbles vs without, in Chromium: load-to-drawn and zoom redraws.

Real data: Fashion-MNIST's test set (10,000 points) and training set (60,000), encoded by one
model (a checkpoint given with --model, else a quickly trained one). Each map is served by
bench/apps/map_only.py exactly as the Latent map page draws it: the Plotly figure (points
only) and the browser layer (ui/components/map_layer.js), with or without bubbles.

1. Load: a fresh page, alternately with and without bubbles; "drawn" is the first animation
   frame after Plotly drew the points and, with bubbles, after the layer drew them.
2. Zoom and pan: in one page per variant, the same wheel gesture over the plot (zoom in, then
   out, one wheel event per frame), while every frame's interval is recorded; the layer also
   records how long each of its redraws took (data-ms on its canvas).

Both sides of each ratio are measured in the same run, interleaved, and the machine's load
average is printed with them. Usage:
  .venv/bin/python bench/bubbles_render.py [--model PATH.safetensors] [--loads 5] [--record]
Targets: with bubbles <= 1.2 x without (load, 10k and 60k); a redraw <= 33 ms at 60k.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latent_bench import (  # noqa: E402
    FASHION_DIR,
    ROOT,
    append_results,
    chromium,
    fashion_train,
    machine,
    median,
    quick_model,
    server,
)
from vae.data.idx import read_idx_pair  # noqa: E402
from vae.latent import encode_dataset  # noqa: E402

# ms since navigation start until the map is on screen: the points drawn (SVG or WebGL) and,
# when asked for, the bubble layer's first full draw; then two frames.
DRAWN_JS = """
async (bubbles) => {
  const frame = () => new Promise(r => requestAnimationFrame(r));
  const deadline = performance.now() + 120000;
  while (performance.now() < deadline) {
    const gd = document.querySelector('.st-key-map_chart .js-plotly-plot');
    const ready = gd && gd._fullLayout &&
      (gd.querySelector('.scatterlayer .trace .points path') ||
       gd.querySelector('.gl-container canvas'));
    const drawn = performance.getEntriesByName('vx:map-layer:map_chart').pop();
    const bubblesReady = !bubbles || (drawn && drawn.detail.drawn > 0);
    if (ready && bubblesReady) { await frame(); await frame(); return performance.now(); }
    await new Promise(r => setTimeout(r, 5));
  }
  return null;
}
"""

# The wheel gesture: `steps` wheel events in, then out, one per animation frame, over the
# plot's centre. Returns [frame intervals (ms), the layer's redraw times (ms), strides].
GESTURE_JS = """
async (steps) => {
  const gd = document.querySelector('.st-key-map_chart .js-plotly-plot');
  const drag = gd.querySelector('.nsewdrag');
  const r = drag.getBoundingClientRect();
  const at = { clientX: r.left + r.width * 0.45, clientY: r.top + r.height * 0.55 };
  const draws = [];
  const strides = [];
  // each redraw of the layer is a performance mark (web/map_layer.js): its time and stride
  const keep = (marks) => {
    for (const m of marks) if (m.name === 'vx:map-layer:map_chart') {
      draws.push(m.detail.ms); strides.push(m.detail.stride);
    }
  };
  const seen = new PerformanceObserver((list) => keep(list.getEntries()));
  seen.observe({ type: 'mark' });
  const frames = [];
  let last = performance.now();
  const frame = () => new Promise(res => requestAnimationFrame(t => {
    frames.push(t - last); last = t; res();
  }));
  await frame();
  for (let i = 0; i < 2 * steps; i++) {
    const deltaY = i < steps ? -40 : 40;
    drag.dispatchEvent(new WheelEvent('wheel', { ...at, deltaY, bubbles: true, cancelable: true }));
    await frame();
  }
  await new Promise(res => setTimeout(res, 600));  // the gesture ends: one full redraw
  keep(seen.takeRecords());
  seen.disconnect();
  return [frames.slice(1), draws, strides];
}
"""


def fashion_test() -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx_pair(
        FASHION_DIR / "t10k-images-idx3-ubyte.gz", FASHION_DIR / "t10k-labels-idx1-ubyte.gz"
    )
    return (images.reshape(-1, 784) / np.float32(255)).astype(np.float32), labels


def load_model(path: str | None):
    if path:
        from vae.checkpoint import load_checkpoint

        model, _ = load_checkpoint(path)
        return model.eval(), Path(path).name
    x, _ = fashion_train()
    return quick_model(x, epochs=1), "a 1-epoch quick model"


def load_ms(browser, url: str, bubbles: bool, width: int = 1400) -> tuple[float, float]:
    """(load-to-drawn ms, ms of the bubble layer's first full draw at full view, or nan)."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    try:
        page.goto(url)
        ms = page.evaluate(DRAWN_JS, bubbles)
        if ms is None:
            raise RuntimeError(f"the map at {url} was not drawn within 120 s")
        layer = page.locator(".st-key-map_chart canvas.vx-bubbles")
        draw = float(layer.get_attribute("data-ms") or "nan") if bubbles else float("nan")
        return ms, draw
    finally:
        page.close()


def gesture(browser, url: str, bubbles: bool, steps: int) -> tuple[list, list, list]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url)
        page.evaluate(DRAWN_JS, bubbles)
        page.wait_for_timeout(500)
        return page.evaluate(GESTURE_JS, steps)
    finally:
        page.close()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def run(model_path: str | None, loads: int, gestures: int, record: bool) -> None:
    model, model_name = load_model(model_path)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (x, y) in {"fashion10k": fashion_test(), "fashion60k": fashion_train()}.items():
            mu, sigma = encode_dataset(model, x)
            np.savez(Path(tmp) / f"{name}.npz", mu=mu, sigma=sigma, y=y)
        variants = [  # (label, data, bubbles)
            ("Fashion 10k, no bubbles", "fashion10k", "off"),
            ("Fashion 10k, 1σ bubbles", "fashion10k", "1σ"),
            ("Fashion 60k, no bubbles", "fashion60k", "off"),
            ("Fashion 60k, 1σ bubbles", "fashion60k", "1σ"),
        ]
        times: dict[str, list[float]] = {label: [] for label, *_ in variants}
        full_view: dict[str, list[float]] = {label: [] for label, *_ in variants}
        frames: dict[str, list[float]] = {"off": [], "1σ": []}
        draws: dict[str, list[float]] = {"full": [], "thinned": []}
        load_before = load_average()
        with (
            server(ROOT / "bench" / "apps" / "map_only.py", {"BENCH_MAPS": tmp}) as url,
            chromium() as browser,
        ):
            urls = {label: f"{url}/?data={d}&bubbles={quote(b)}" for label, d, b in variants}
            for label, _d, b in variants:
                load_ms(browser, urls[label], b != "off")  # warm: server cache, browser code
            print("measuring loads...", flush=True)
            for _ in range(loads):  # interleaved
                for label, _d, b in variants:
                    ms, draw = load_ms(browser, urls[label], b != "off")
                    times[label].append(ms)
                    full_view[label].append(draw)
            print("measuring zoom gestures at 60k...", flush=True)
            for _ in range(gestures):
                for b in ("off", "1σ"):
                    label = f"Fashion 60k, {'no bubbles' if b == 'off' else '1σ bubbles'}"
                    f, d, s = gesture(browser, urls[label], b != "off", 12)
                    frames[b] += f
                    if b != "off":
                        draws["full"] += [ms for ms, st in zip(d, s, strict=True) if st == 1]
                        draws["thinned"] += [ms for ms, st in zip(d, s, strict=True) if st > 1]
        load_after = load_average()

    base = {d: median(times[f"Fashion {d[7:]}, no bubbles"]) for d in ("fashion10k", "fashion60k")}
    lines = [
        "## Latent map: the bubble layer (bench/bubbles_render.py)",
        "",
        f"### Load-to-drawn, bubbles vs none ({loads} loads each, interleaved)",
        "",
        f"Machine: {machine()}; load average (1/5/15 min) {load_before} before, "
        f"{load_after} after. Model: {model_name}.",
        "",
        "| map | median ms | ratio to no bubbles | bubble layer's full-view draw, median ms |",
        "|---|---|---|---|",
    ]
    for label, data, _b in variants:
        lines.append(
            f"| {label} | {median(times[label]):.0f} | {median(times[label]) / base[data]:.2f} "
            f"| {median(full_view[label]):.1f} |"
        )
    full = draws["full"] or [float("nan")]
    thinned = draws["thinned"] or [float("nan")]
    off, on = median(frames["off"]), median(frames["1σ"])
    lines += [
        "",
        f"### Zoom (wheel) at 60k points, {gestures} gestures of 24 wheel events each",
        "",
        "| | median ms | p90 ms |",
        "|---|---|---|",
        f"| frame interval, no bubbles | {off:.1f} | {np.percentile(frames['off'], 90):.1f} |",
        f"| frame interval, 1σ bubbles | {on:.1f} | {np.percentile(frames['1σ'], 90):.1f} |",
        f"| bubble layer, full redraw (JS + canvas calls) | {median(full):.1f} | "
        f"{np.percentile(full, 90):.1f} |",
        f"| bubble layer, thinned redraw during the gesture | {median(thinned):.1f} | "
        f"{np.percentile(thinned, 90):.1f} |",
        "",
        f"Frame interval ratio, bubbles / none: {on / off:.2f}. Target: a redraw <= 33 ms.",
    ]
    report = "\n".join(lines)
    print(report)
    if record:
        append_results(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a checkpoint (.safetensors) to encode Fashion-MNIST with")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--gestures", type=int, default=3)
    parser.add_argument(
        "--record", action="store_true", help="append the tables to bench/RESULTS.md"
    )
    args = parser.parse_args()
    run(args.model, args.loads, args.gestures, args.record)

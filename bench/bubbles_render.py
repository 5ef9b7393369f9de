"""Latent map with variance bubbles vs without: load-to-drawn in Chromium, 10k and 60k points.

Real data: the MNIST test set (10,000 points) and Fashion-MNIST's training set (60,000),
each encoded by a quickly trained model. Each map is served by bench/apps/map_only.py with the
figure already built (build times are printed separately), and loaded in a fresh page
alternately with and without bubbles; "drawn" is the first animation frame after Plotly
has drawn the points and, with bubbles, the ellipses (SVG path) or their raster image.

Usage: .venv/bin/python bench/bubbles_render.py [--loads 5] [--record]
Target: with bubbles <= 1.2 x without, at 10k and at 60k points.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latent_bench import (  # noqa: E402
    ROOT,
    append_results,
    chromium,
    fashion_train,
    machine,
    median,
    mnist_test,
    quick_model,
    server,
)
from vae.latent import encode_dataset  # noqa: E402
from viz.latent_map import SVG_BUBBLE_LIMIT, latent_map_figure  # noqa: E402

# ms since navigation start until the map is on screen: points drawn (SVG or WebGL) and, when
# asked for, the bubbles (an SVG path with fill, or the raster <image> decoded), then 2 frames.
DRAWN_JS = """
async (bubbles) => {
  const frame = () => new Promise(r => requestAnimationFrame(r));
  const deadline = performance.now() + 120000;
  while (performance.now() < deadline) {
    const gd = document.querySelector('.st-key-map_chart .js-plotly-plot');
    // SVG markers are <path>s in the scatter layer; WebGL ones are drawn synchronously into
    // the gl canvases during Plotly's plot call, so the canvas being there means drawn.
    const ready = gd && gd._fullLayout &&
      (gd.querySelector('.scatterlayer .trace .points path') || gd.querySelector('.gl-canvas-focus, .gl-container canvas'));
    let bubblesReady = !bubbles;
    if (ready && bubbles) {
      const path = gd.querySelector('.scatterlayer .js-fill');
      const img = gd.querySelector('.layer-below image, .imagelayer image');
      if (path && path.getAttribute('d')) bubblesReady = true;
      if (img) {
        const href = img.getAttribute('href') || img.getAttribute('xlink:href');
        const i = new Image(); i.src = href; await i.decode(); bubblesReady = true;
      }
    }
    if (ready && bubblesReady) { await frame(); await frame(); return performance.now(); }
    await new Promise(r => setTimeout(r, 5));
  }
  return null;
}
"""


def encoded(x: np.ndarray, y: np.ndarray, epochs: int) -> dict[str, np.ndarray]:
    model = quick_model(x, epochs=epochs)
    mu, sigma = encode_dataset(model, x)
    return {"mu": mu, "sigma": sigma, "y": y}


def load_ms(browser, url: str, bubbles: bool) -> float:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url)
        ms = page.evaluate(DRAWN_JS, bubbles)
        if ms is None:
            page.screenshot(path=str(ROOT / "artifacts" / "e2e" / "bench-bubbles-failed.png"))
            raise RuntimeError(f"the map at {url} was not drawn within 120 s")
        return ms
    finally:
        page.close()


def run(loads: int, record: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print("encoding: MNIST test (10k) and Fashion-MNIST train (60k)...", flush=True)
        sets = {
            "mnist10k": encoded(*mnist_test(), epochs=2),
            "fashion60k": encoded(*fashion_train(), epochs=1),
        }
        build = {}
        for name, arrays in sets.items():
            np.savez(Path(tmp) / f"{name}.npz", **arrays)
            for bubbles in ("off", "1σ"):
                start = time.perf_counter()
                latent_map_figure(arrays["mu"], arrays["sigma"], arrays["y"], bubbles=bubbles)
                build[name, bubbles] = 1000 * (time.perf_counter() - start)
        variants = [  # (label, data, bubbles, svg_limit)
            ("MNIST 10k, no bubbles", "mnist10k", "off", SVG_BUBBLE_LIMIT),
            ("MNIST 10k, 1σ bubbles", "mnist10k", "1σ", SVG_BUBBLE_LIMIT),
            ("MNIST 10k, 1σ bubbles as raster", "mnist10k", "1σ", 0),
            ("Fashion 60k, no bubbles", "fashion60k", "off", SVG_BUBBLE_LIMIT),
            ("Fashion 60k, 1σ bubbles", "fashion60k", "1σ", SVG_BUBBLE_LIMIT),
        ]
        times: dict[str, list[float]] = {label: [] for label, *_ in variants}
        with (
            server(ROOT / "bench" / "apps" / "map_only.py", {"BENCH_MAPS": tmp}) as url,
            chromium() as browser,
        ):
            urls = {
                label: f"{url}/?data={data}&bubbles={quote(b)}&svg_limit={limit}"
                for label, data, b, limit in variants
            }
            for label, _data, b, _limit in variants:
                load_ms(browser, urls[label], b != "off")  # warm: server cache, browser code
            print("measuring...", flush=True)
            for _ in range(loads):  # interleaved
                for label, _data, b, _limit in variants:
                    times[label].append(load_ms(browser, urls[label], b != "off"))
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(urls["Fashion 60k, 1σ bubbles"])
            page.evaluate(DRAWN_JS, True)
            page.screenshot(path=str(ROOT / "artifacts" / "e2e" / "bench-bubbles-60k.png"))
            page.goto(urls["MNIST 10k, 1σ bubbles"])
            page.evaluate(DRAWN_JS, True)
            page.screenshot(path=str(ROOT / "artifacts" / "e2e" / "bench-bubbles-10k.png"))

    base = {
        "mnist10k": median(times["MNIST 10k, no bubbles"]),
        "fashion60k": median(times["Fashion 60k, no bubbles"]),
    }
    lines = [f"## Latent map load-to-drawn, bubbles vs none ({loads} loads each, interleaved)", ""]
    lines += [
        f"Machine: {machine()}",
        "",
        "| map | median ms | ratio to no bubbles |",
        "|---|---|---|",
    ]
    for label, data, _b, _limit in variants:
        lines.append(
            f"| {label} | {median(times[label]):.0f} | {median(times[label]) / base[data]:.2f} |"
        )
    lines += [
        "",
        "Server-side figure build (once per model and options, then cached): "
        + ", ".join(f"{name} {b}: {ms:.0f} ms" for (name, b), ms in build.items()),
        f"SVG path up to {SVG_BUBBLE_LIMIT:,} points, raster image beyond. Target: <= 1.2x.",
    ]
    report = "\n".join(lines)
    print(report)
    if record:
        append_results(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument(
        "--record", action="store_true", help="append the table to bench/RESULTS.md"
    )
    args = parser.parse_args()
    run(args.loads, args.record)

"""A newcomer's time: from `streamlit run app.py` to a trained digits map on screen, one click.

Wall clock, split into its parts: server start (until /_stcore/health answers), first page
(Home with the quick-start button), training + switching to the Latent map after the click,
and the map drawn (the points and bubbles of the digits test set on screen).

Usage: .venv/bin/python bench/newcomer.py [--runs 3] [--record]
Target: <= 10 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latent_bench import ROOT, append_results, chromium, machine, median  # noqa: E402
from tests.e2e.conftest import free_port, start_streamlit, stop  # noqa: E402

QUICK_START = "Quick start: train on digits"
MAP_DRAWN_JS = """
async () => {
  for (;;) {
    const gd = document.querySelector('.st-key-map_chart .js-plotly-plot');
    if (gd && gd._fullLayout && gd.querySelector('.scatterlayer .trace .points path')) {
      await new Promise(r => requestAnimationFrame(r));
      return;
    }
    await new Promise(r => setTimeout(r, 10));
  }
}
"""


def one_run(browser) -> dict[str, float]:
    env = dict(os.environ)
    env["VAE_EXPLORER_MODELS"] = tempfile.mkdtemp(prefix="vx-newcomer-")
    env["VAE_EXPLORER_MIRROR"] = "http://127.0.0.1:9/"
    start = time.perf_counter()
    process = start_streamlit(ROOT / "app.py", free_port(), env)
    port = process.args[process.args.index("--server.port") + 1]
    marks = {"server up": time.perf_counter()}
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}")
        button = page.get_by_role("button", name=QUICK_START)
        button.wait_for(timeout=120_000)
        marks["Home shown"] = time.perf_counter()
        button.click()
        page.locator(".st-key-map_chart").wait_for(timeout=300_000)
        marks["trained, map page"] = time.perf_counter()
        page.evaluate(MAP_DRAWN_JS)
        marks["map drawn"] = time.perf_counter()
        page.screenshot(path=str(ROOT / "artifacts" / "e2e" / "bench-newcomer.png"))
        page.close()
    finally:
        stop(process)
    out, last = {}, start
    for name, t in marks.items():
        out[name] = t - last
        last = t
    out["total"] = last - start
    return out


def run(runs: int, record: bool) -> None:
    (ROOT / "artifacts" / "e2e").mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    with chromium() as browser:
        results = [one_run(browser) for _ in range(runs)]
    load_after = os.getloadavg()[0]
    names = list(results[0])
    lines = [f"## Newcomer: `streamlit run app.py` -> trained digits map drawn ({runs} runs)", ""]
    lines += [
        f"Machine: {machine()}; load average {load_before:.1f} before, {load_after:.1f} after "
        "(other jobs share the machine)",
        "",
        "| step | median s | runs |",
        "|---|---|---|",
    ]
    for name in names:
        values = [r[name] for r in results]
        lines.append(f"| {name} | {median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |")
    lines += ["", "Target: total <= 10 s on a 2-core CPU."]
    report = "\n".join(lines)
    print(report)
    if record:
        append_results(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--record", action="store_true", help="append the table to bench/RESULTS.md"
    )
    args = parser.parse_args()
    run(args.runs, args.record)

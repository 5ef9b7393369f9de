"""Bytes the browser receives per click on the Latent map: the components' JS inline (sent with
every message that carries the element) against served as files (ui/components/assets.py).

A click reruns the map's fragment, which re-sends the map layer's element. Before, that element
carried the map layer's JavaScript as a string; now it carries a path, and the browser fetched
the modules once, over HTTP, when the page first showed them. Both versions run side by side:
"before" is the whole tree at --before (git archive), "after" is this working tree. The same
steps are driven in Chromium on each (the quick start on digits, then clicks on empty spots),
and every websocket frame received is counted, with the map layer's element's frames apart,
and the component files fetched over HTTP.

Usage: .venv/bin/python bench/click_bytes.py [--before REV] [--clicks 5]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latent_bench import ROOT, chromium, median, server  # noqa: E402
from tests.e2e.driver import empty_spots, keyed_graph, to_page, wait_idle  # noqa: E402

LAYER = {"before": b"vae_explorer_map_layer", "after": b"vae_explorer.map_layer"}


def tree_at(rev: str, folder: Path) -> Path:
    """The repository's files at `rev`, in `folder`."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def clicks(browser, url: str, layer: bytes, n: int) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    received: list[bytes] = []
    fetched: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(f)))
    page.on(
        "response",
        lambda r: fetched.append(len(r.body())) if "/_stcore/bidi-components/" in r.url else None,
    )
    page.goto(url)
    page.get_by_role("button", name="Train on digits").click()
    page.get_by_role("heading", name="Latent map").wait_for(timeout=180_000)
    gd = keyed_graph(page, "map_chart")
    wait_idle(page, timeout=120)
    files_at_landing = sum(fetched)
    per_click, layer_bytes = [], []
    for spot in empty_spots(gd, n):
        start = len(received)
        page.mouse.click(*to_page(gd, *spot))
        page.wait_for_timeout(1000)  # Streamlit's status widget shows a run only after a moment
        wait_idle(page, timeout=120)
        page.wait_for_timeout(300)
        frames = [f if isinstance(f, bytes) else f.encode() for f in received[start:]]
        per_click.append(sum(map(len, frames)))
        layer_bytes.append(sum(len(f) for f in frames if layer in f))
    page.close()
    return {
        "click": median(per_click),
        "layer": median(layer_bytes),
        "files at landing": files_at_landing,
        "files after": sum(fetched) - files_at_landing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="7cf354b", help="git revision of 'before'")
    parser.add_argument("--clicks", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        trees = {"before": tree_at(args.before, Path(tmp) / "before"), "after": ROOT}
        browser = stack.enter_context(chromium())
        urls = {v: stack.enter_context(server(t / "app.py")) for v, t in trees.items()}
        results = {v: clicks(browser, urls[v], LAYER[v], args.clicks) for v in trees}
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"bytes received per click on the Latent map, median of {args.clicks} (load {load})")
    print(f"{'':<36}{'before':>12}{'after':>12}")
    for row, name in [("click", "all websocket bytes per click"),
                      ("layer", "  of which the map layer's element"),
                      ("files at landing", "component files fetched at landing"),
                      ("files after", "component files fetched by the clicks")]:  # fmt: skip
        print(f"{name:<36}{results['before'][row]:>12,.0f}{results['after'][row]:>12,.0f}")


if __name__ == "__main__":
    main()

"""Bytes the browser receives per full run of the Latent map: before vs after the decoder cache.

ui/components/map_decoder.py sends the browser decoder's float32 weights once per browser session and
model (since commit e233e8d); before, they went with every run whose payload changed (every
run after a click, whose z is in the payload; a return to the page). Both versions run side
by side: "before" is the whole tree at --before (git archive: the map decoder's files have
moved since), "after" is the tree itself. The same steps are driven in Chromium on each, and every
websocket frame received is counted (all of them, and those of the decoder's element).

Models: the quick start on digits (app.py; decoder 2-128-256-64, 200 KB) and the default MNIST
MLP (hidden (512, 256), untrained: only its size matters; decoder 2-256-512-784, 2.1 MB) on
the MNIST test set through bench/apps/latent_harness.py.

Usage: .venv/bin/python bench/decoder_bytes.py [--before e233e8d~1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.click_bytes import tree_at  # noqa: E402
from bench.latent_bench import ROOT, chromium, mnist_test, save_harness_inputs, server  # noqa: E402
from tests.e2e.driver import empty_spots, keyed_graph, to_page, wait_idle  # noqa: E402

NAV = '[data-testid="stSidebarNav"] a'
# The component's name, in each of its messages (renamed when its JS became a file).
DECODERS = (b"vae_explorer_map_decoder", b"vae_explorer.map_decoder")


def measure(page, action) -> tuple[int, int]:
    """(all bytes, the decoder's bytes) received from `action` until the app is idle."""
    start = len(page.received)
    action()
    page.wait_for_timeout(1000)  # Streamlit's status widget shows a run only after a moment
    wait_idle(page, timeout=120)
    page.wait_for_timeout(300)
    frames = [f if isinstance(f, bytes) else f.encode() for f in page.received[start:]]
    return sum(map(len, frames)), sum(len(f) for f in frames if any(name in f for name in DECODERS))


def steps(browser, url: str, quick_start: bool, away: str) -> dict[str, tuple[int, int]]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.received = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: page.received.append(f)))

    def land() -> None:
        page.goto(url)
        if quick_start:
            page.get_by_role("button", name="Train on digits").click()
        page.get_by_role("heading", name="Latent map").wait_for(timeout=180_000)
        keyed_graph(page, "map_chart")

    def bubbles(label: str):
        return lambda: page.locator(".st-key-map_bubbles").get_by_text(label, exact=True).click()

    def click() -> None:
        gd = keyed_graph(page, "map_chart")
        page.mouse.click(*to_page(gd, *empty_spots(gd, 1)[0]))

    def prior() -> None:
        page.locator(".st-key-map_prior label").first.click()

    def back() -> None:
        page.locator(NAV, has_text="Latent map").first.click()
        keyed_graph(page, "map_chart")

    out = {"first run": measure(page, land)}
    out["option, no click since"] = measure(page, bubbles("off"))
    measure(page, click)  # a fragment rerun: not a full run
    out["option after a click"] = measure(page, prior)
    measure(page, click)
    measure(page, lambda: page.locator(NAV, has_text=away).first.click())
    out["back to the page"] = measure(page, back)
    page.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="e233e8d~1", help="git revision of 'before'")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        import torch

        from vae import VAE, ModelConfig

        torch.manual_seed(0)
        mnist = VAE(ModelConfig(input_dim=784, image_shape=(28, 28))).eval()  # (512, 256)
        inputs = save_harness_inputs(Path(tmp), mnist, *mnist_test(), "mnist-test")
        trees = {"before": tree_at(args.before, Path(tmp) / "before"), "after": ROOT}
        browser = stack.enter_context(chromium())
        results = {}
        for version, tree in trees.items():  # both servers up at once: same machine state
            app = stack.enter_context(server(tree / "app.py"))
            harness = tree / "bench" / "apps" / "latent_harness.py"
            mnist_url = stack.enter_context(server(harness, {"BENCH_INPUTS": str(inputs)}))
            results[version, "digits"] = steps(browser, app, True, "Home")
            results[version, "MNIST"] = steps(browser, mnist_url, False, "Interpolate")
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"bytes received per full run of the Latent map (load {load}); all / decoder's")
    print(f"{'model':<8}{'run':<26}{'before':>22}{'after':>22}{'all: after/before':>20}")
    for model in ("digits", "MNIST"):
        for run, (all_b, dec_b) in results["before", model].items():
            all_a, dec_a = results["after", model][run]
            print(f"{model:<8}{run:<26}{all_b:>12,} / {dec_b:>7,}{all_a:>12,} / {dec_a:>7,}"
                  f"{all_a / all_b:>20.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

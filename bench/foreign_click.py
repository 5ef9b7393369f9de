"""Click latency of an imported (ONNX) model against the same model native, side by side.

A native model's click is decoded in the browser from its weights (ui/components/map_decoder).
A foreign graph is decoded in the browser too when it is a chain of layers the browser runs
(vae/foreign/layers.py), else on the server by onnxruntime (the decode panel's picture). This
times the three in the same Chromium, interleaved click by click, from pointerdown to the new
picture decoded in the page, on empty spots of the Latent map (a new z every click), with
Streamlit's bare button -> image round trip as the reference. All are the same network: the
shipped Fashion-MNIST MLP; its `python -m vae export` imported back; and that import with one
no-op operator appended to the decoder (max(y, -1e30)), which makes it no chain, so the server
decodes it.

Usage: .venv/bin/python bench/foreign_click.py [--clicks 15] [--record]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx as onnx_lib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.click_latency import (  # noqa: E402
    MAP_PICTURE,
    ST_IMAGE,
    WARM_UP,
    button_target,
    map_targets,
    new_page,
)
from bench.latent_bench import ROOT, append_results, chromium, machine, median, server  # noqa: E402


def prepare_library(folder: Path) -> None:
    """native.safetensors: the shipped model; foreign.safetensors: its ONNX export imported."""
    from vae.cli import main

    shutil.copy(ROOT / "pretrained" / "fashion-mnist.safetensors", folder / "native.safetensors")
    onnx = folder / "onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["export", "--checkpoint", str(folder / "native.safetensors"),
                     "--onnx", str(onnx)]) == 0  # fmt: skip
    assert main(["import", "--encoder", str(onnx / "encoder.onnx"), "--decoder",
                 str(onnx / "decoder.onnx"), "--card", str(onnx / "card.json"),
                 "--name", "foreign", "--root", str(folder)]) == 0  # fmt: skip
    graph = onnx_lib.load(onnx / "decoder.onnx")
    out = graph.graph.output[0].name
    floor = onnx_lib.numpy_helper.from_array(np.array(-1e30, np.float32), "floor")
    graph.graph.initializer.append(floor)
    for node in graph.graph.node:  # the last node now writes "raw", then max(raw, floor)
        node.output[:] = ["raw" if name == out else name for name in node.output]
    graph.graph.node.append(onnx_lib.helper.make_node("Max", ["raw", "floor"], [out]))
    onnx_lib.save(graph, onnx / "decoder-server.onnx")
    assert main(["import", "--encoder", str(onnx / "encoder.onnx"), "--decoder",
                 str(onnx / "decoder-server.onnx"), "--card", str(onnx / "card.json"),
                 "--name", "foreign-server", "--root", str(folder)]) == 0  # fmt: skip


def run(clicks: int, record: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp)
        prepare_library(library)
        harness = ROOT / "bench" / "apps" / "library_harness.py"
        env = {"VAE_EXPLORER_MODELS": str(library)}
        with (
            server(ROOT / "bench" / "apps" / "ref_button.py") as ref_url,
            server(harness, {**env, "BENCH_MODEL": "native"}) as native_url,
            server(harness, {**env, "BENCH_MODEL": "foreign"}) as foreign_url,
            server(harness, {**env, "BENCH_MODEL": "foreign-server"}) as server_url,
            chromium() as browser,
        ):
            total = WARM_UP + clicks
            targets = {"button (reference)": button_target(browser, ref_url)}
            native = map_targets(new_page(browser, native_url), total)["empty space"]
            foreign = map_targets(new_page(browser, foreign_url), total)["empty space"]
            on_server = map_targets(new_page(browser, server_url), total)["empty space"]
            on_server.picture = ST_IMAGE  # the decode panel's picture: decoded on the server
            assert native.picture == foreign.picture == MAP_PICTURE
            targets["native model (browser decode)"] = native
            targets["imported ONNX, a chain (browser decode)"] = foreign
            targets["imported ONNX, not a chain (server decode)"] = on_server
            print("measuring...", flush=True)
            times: dict[str, list[float]] = {name: [] for name in targets}
            for i in range(total):  # interleaved: drift hits every contender alike
                for name, target in targets.items():
                    ms, _ = target.click(i)
                    if i >= WARM_UP:
                        times[name].append(ms)
            for name, target in (("browser", foreign), ("server", on_server)):
                path = ROOT / "artifacts" / "e2e" / f"bench-foreign-{name}.png"
                target.page.screenshot(path=str(path))
    text = report(times, clicks)
    print(text)
    if record:
        append_results(text)


def report(times: dict[str, list[float]], clicks: int) -> str:
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    native = median(times["native model (browser decode)"])
    button = median(times["button (reference)"])
    lines = [
        f"## Click on the map: imported ONNX model vs native ({clicks} clicks each, interleaved)",
        "",
        f"Machine: {machine()}; load average {load} (1/5/15 min) at the end",
        "",
        "| what | picture, median ms | ratio to native | ratio to button |",
        "|---|---|---|---|",
    ]
    for name, values in times.items():
        m = median(values)
        lines.append(f"| {name} | {m:.0f} | {m / native:.2f} | {m / button:.2f} |")
    lines += [
        "",
        "Empty spots of the Fashion-MNIST Latent map (10,000 points), the same network three "
        "ways (bench/foreign_click.py). A chain's picture is drawn by the browser from the "
        "graph's weights, as a native one; the other comes with the fragment's rerun "
        "(onnxruntime on the server).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=15)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    run(args.clicks, args.record)

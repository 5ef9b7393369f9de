"""How long the app server takes to stop on a signal: idle, and in the middle of a training.

tests/test_faults.py checks what is promised (the server stops by itself, exit code 0, no
training process or half-saved file left) with a generous deadline; this measures how long it
takes, side by side in one run: an idle server (one page opened) and a server whose Train page
is training (started in Chromium, as a student would), alternated, so that the machine's load
weighs on both alike. Prints a table row per case and the ratio.

Usage: .venv/bin/python bench/server_stop.py [--rounds 2] [--signal TERM|INT]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latent_bench import chromium  # noqa: E402
from bench.machine import cpu_model, utc_stamp  # noqa: E402
from tests.e2e.conftest import free_port, start_streamlit  # noqa: E402

STOP_DEADLINE = 120  # seconds; a server that takes longer is killed and reported


def open_app(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("VAE explorer").first.wait_for(timeout=180_000)  # the first run is done


def start_training(page, url: str) -> None:
    """Through the sidebar, as a student would; returns once the live progress shows."""
    open_app(page, url)
    page.get_by_role("link", name="Train", exact=True).first.click(timeout=120_000)
    epochs = page.locator(".st-key-train_epochs input")
    epochs.wait_for(timeout=90_000)
    epochs.fill("1000")
    epochs.press("Enter")
    page.locator(".st-key-train_start button").click(timeout=90_000)
    page.get_by_text("elapsed").first.wait_for(timeout=90_000)


def seconds_to_stop(browser, training: bool, signum: int) -> float:
    """Start a server, bring it to the state, send the signal: seconds until it exited."""
    with tempfile.TemporaryDirectory() as models:
        env = dict(os.environ, VAE_EXPLORER_MODELS=models,
                   VAE_EXPLORER_MIRROR="http://127.0.0.1:9/")  # fmt: skip
        port = free_port()
        process = start_streamlit(ROOT / "app.py", port, env)
        context = browser.new_context()
        try:
            page = context.new_page()
            url = f"http://127.0.0.1:{port}"
            if training:
                start_training(page, url)
            else:
                open_app(page, url)
            sent = time.monotonic()
            process.send_signal(signum)
            process.wait(timeout=STOP_DEADLINE)
            return time.monotonic() - sent
        finally:
            context.close()
            if process.poll() is None:
                process.kill()
                process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--signal", choices=["TERM", "INT"], default="TERM")
    args = parser.parse_args()
    signum = getattr(signal, f"SIG{args.signal}")
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {"idle": [], "training": []}
    with chromium() as browser:
        for _ in range(args.rounds):
            for case in ("idle", "training"):  # alternated: both see the same load
                times[case].append(seconds_to_stop(browser, case == "training", signum))
                print(f"  {case}: {times[case][-1]:.2f} s", flush=True)
    idle, training = statistics.median(times["idle"]), statistics.median(times["training"])
    print(f"\n### Server stop on SIG{args.signal} ({utc_stamp()})\n")
    print(f"{cpu_model()}, {os.cpu_count()} cores, load average {load:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at the end; {args.rounds} rounds, medians.\n")  # fmt: skip
    print("| server | seconds to exit | runs |")
    print("| --- | --- | --- |")
    for case in ("idle", "training"):
        runs = ", ".join(f"{t:.2f}" for t in times[case])
        print(f"| {case} | {statistics.median(times[case]):.2f} | {runs} |")
    print(f"| training / idle | {training / idle:.2f}x | |")


if __name__ == "__main__":
    main()

"""A newcomer's time: from `streamlit run app.py` to a trained digits map on screen, one click.

Wall clock, split into its parts: server start (until /_stcore/health answers), first page
(Home with the quick-start button), the click taken (Chromium busy with Home's scripts can
delay it), training + switching to the Latent map, and the map drawn (the points and bubbles
of the digits test set on screen). Beside each wall time, the CPU seconds the server and the
browser spent in that step (from /proc): on a busy machine the wall times stretch, the CPU
times much less, so they show where the time goes.

Usage: .venv/bin/python bench/newcomer.py [--runs 3] [--record] [--compare OTHER_CHECKOUT]
Target: <= 10 s on a 2-core CPU. --compare runs another checkout of the app (e.g. a `git worktree`
of an older commit) alternately with this one, so that both see the same machine load.
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

QUICK_START = "Train on digits"
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
TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds so far) of a live process, None if gone: user + system, its
    own and that of its children which have exited (a training process that has finished)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / TICK


def cpu_seconds(server_pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the server (with any child it started, e.g. a training
    process), and by this process's other descendants (Chromium and Playwright's driver)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _proc_stat(int(entry))) is not None:
            stats[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(root: int, skip: int | None = None) -> float:
        total, todo = 0.0, list(children.get(root, []))
        while todo:
            pid = todo.pop()
            if pid != skip:
                total += stats[pid][1]
                todo += children.get(pid, [])
        return total

    server = stats[server_pid][1] + tree(server_pid) if server_pid in stats else 0.0
    return server, tree(os.getpid(), skip=server_pid)


def one_run(browser, checkout: Path = ROOT) -> dict[str, tuple[float, float, float]]:
    """{step: (wall s, server CPU s, browser CPU s)} of one newcomer, from a cold server."""
    env = dict(os.environ)
    env["VAE_EXPLORER_MODELS"] = tempfile.mkdtemp(prefix="vx-newcomer-")
    env["VAE_EXPLORER_MIRROR"] = "http://127.0.0.1:9/"
    port = free_port()
    start, cpu_start = time.perf_counter(), cpu_seconds(-1)[1]
    process = start_streamlit(checkout / "app.py", port, env, cwd=checkout, poll=0.05)
    marks = {}

    def mark(name: str) -> None:
        marks[name] = (time.perf_counter(), *cpu_seconds(process.pid))

    mark("server up")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}")
        button = page.get_by_role("button", name=QUICK_START)
        button.wait_for(timeout=120_000)
        mark("Home shown")
        button.click()  # waits until the page takes input (a busy main thread delays it)
        mark("click taken")
        page.locator(".st-key-map_chart").wait_for(timeout=300_000)
        mark("trained, map page")
        page.evaluate(MAP_DRAWN_JS)
        mark("map drawn")
        page.screenshot(path=str(ROOT / "artifacts" / "e2e" / "bench-newcomer.png"))
        page.close()
    finally:
        stop(process)
    # The browser's CPU before the server started is Chromium's own start-up: not counted.
    out, last = {}, (start, 0.0, cpu_start)
    for name, now in marks.items():
        out[name] = tuple(b - a for a, b in zip(last, now, strict=True))
        last = now
    out["total"] = (last[0] - start, last[1], last[2] - cpu_start)
    return out


def table(title: str, results: list[dict[str, tuple[float, float, float]]]) -> list[str]:
    lines = [title, ""] if title else []
    lines += [
        "| step | median wall s | runs (wall s) | server CPU s | browser CPU s |",
        "|---|---|---|---|---|",
    ]  # fmt: skip
    for name in results[0]:
        wall, server, chrome = ([r[name][i] for r in results] for i in range(3))
        lines.append(
            f"| {name} | {median(wall):.1f} | {', '.join(f'{v:.1f}' for v in wall)} "
            f"| {median(server):.1f} | {median(chrome):.1f} |"
        )
    return lines


def run(runs: int, record: bool, compare: Path | None = None) -> None:
    (ROOT / "artifacts" / "e2e").mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    results, others = [], []
    with chromium() as browser:
        for _ in range(runs):  # alternate, so that both checkouts see the same load
            if compare is not None:
                others.append(one_run(browser, compare))
            results.append(one_run(browser))
    load_after = os.getloadavg()[0]
    lines = [f"## Newcomer: `streamlit run app.py` -> trained digits map drawn ({runs} runs)", ""]
    lines += [
        f"Machine: {machine()}; load average {load_before:.1f} before, {load_after:.1f} after "
        "(other jobs share the machine)",
        "",
    ]
    lines += table(f"This checkout ({ROOT}):" if compare else "", results)
    if compare is not None:
        lines += ["", *table(f"Compared with {compare}, run alternately:", others), ""]
        ratio = median([r["total"][0] for r in results]) / median([o["total"][0] for o in others])
        lines.append(f"Total wall time, this / compared: {ratio:.2f}x")
    lines += [
        "",
        "Target: total <= 10 s on a 2-core CPU. CPU columns are medians over the runs; server "
        "CPU counts every thread of the Streamlit process (imports, warm-up, training).",
    ]
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
    parser.add_argument(
        "--compare", type=Path, help="another checkout of the app to run alternately with this one"
    )
    args = parser.parse_args()
    run(args.runs, args.record, args.compare.resolve() if args.compare else None)

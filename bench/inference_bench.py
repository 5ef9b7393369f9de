"""Inference lab: the posterior panel's time per chosen point, and exact log p(x) against IWAE.

1. The posterior panel (ui.inference_lab.compute_point, what the page runs after a click: q*,
   log p(x) by quadrature, the posterior grid, the KL check) for `--clicks` random test points,
   on one torch thread as the app runs it, in a child process per checkout; the decoded plane
   is built once per model and timed apart. With `--compare OTHER_CHECKOUT` (say, a
   `git archive` of an older commit) the other checkout's panel is timed on the same points,
   the two alternating in `--rounds` rounds so that both see the same load. Target: median
   <= 1 s on the default Fashion-MNIST MLP.
2. log p(x) by quadrature over `--n` test points against the IWAE bound with k = `--iw-k`,
   same points, same thread count: seconds of each and their ratio, the mean values, the mean
   |difference| and the quadrature's stated error.

    .venv/bin/python bench/inference_bench.py --checkpoint models/fashion.safetensors
    .venv/bin/python bench/inference_bench.py --checkpoint pretrained/fashion-mnist.safetensors \
        --compare /tmp/before --n 0
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import bench_parser, header, use_machine  # noqa: E402
from vae import load_checkpoint  # noqa: E402
from vae.data import load_dataset  # noqa: E402
from vae.inference import decode_plane, exact_log_likelihood  # noqa: E402
from vae.losses import iwae_log_likelihood  # noqa: E402


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--dataset", default=None, help="default: the checkpoint's")
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--n", type=int, default=10_000, help="test points for part 2")
    parser.add_argument("--iw-k", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", type=Path, default=None, help="another checkout to time")
    parser.add_argument("--rounds", type=int, default=4, help="alternations with --compare")
    args = parser.parse_args()
    device = use_machine(args)
    print(header("inference_bench.py", device))
    print(f"# load average at start: {os.getloadavg()}")
    model, metadata = load_checkpoint(args.checkpoint, device=device)
    model.eval()
    for parameter in model.parameters():  # as the app holds a saved model
        parameter.requires_grad_(False)
    data = load_dataset(args.dataset or metadata["dataset"])
    x_test = np.asarray(data.x_test, dtype=np.float32)
    print(f"# model {args.checkpoint.name}: hidden {model.config.hidden}, {data.name} test set")

    rng = np.random.default_rng(args.seed)
    indices = rng.choice(len(x_test), size=args.clicks, replace=False).tolist()
    roots = [ROOT] + ([args.compare.resolve()] if args.compare else [])
    times: dict[Path, list[float]] = {root: [] for root in roots}
    once: dict[Path, dict] = {}
    for chunk in np.array_split(indices, args.rounds):
        for root in roots:  # alternating: both checkouts meet the same load
            result = _panel_times(root, args.checkpoint, args.dataset, chunk.tolist())
            times[root] += result["seconds"]
            once.setdefault(root, result)
    for root in roots:
        ms = 1000 * np.array(times[root])
        print(
            f"posterior panel ({root}), 1 thread, {len(ms)} points: median {np.median(ms):.0f} "
            f"ms, p90 {np.percentile(ms, 90):.0f} ms, max {ms.max():.0f} ms (plane once per "
            f"model {1000 * once[root]['plane']:.0f} ms; first point of a process "
            f"{1000 * once[root]['first']:.0f} ms); target median <= 1000 ms: "
            f"{'met' if np.median(ms) <= 1000 else 'not met'}"
        )
    if args.compare:
        ratio = np.median(times[ROOT]) / np.median(times[roots[1]])
        print(f"median panel time, this checkout / {roots[1]}: {ratio:.2f}x")
    print(f"# load average after part 1: {os.getloadavg()}")
    if args.n == 0:
        return

    threads = torch.get_num_threads()
    print(f"# load average at the start of part 2: {os.getloadavg()}")
    x = torch.as_tensor(x_test[: args.n])
    started = time.perf_counter()
    exact = exact_log_likelihood(model, x, plane=decode_plane(model))
    exact_s = time.perf_counter() - started
    started = time.perf_counter()
    iwae = iwae_log_likelihood(model, x, k=args.iw_k, seed=args.seed).double().numpy()
    iwae_s = time.perf_counter() - started
    diff = iwae - exact.log_px
    sizes = np.unique(exact.fine_points, return_counts=True)
    print(
        f"{len(x):,} test points, {threads} threads: exact {exact_s:.1f} s, IWAE k={args.iw_k} "
        f"{iwae_s:.1f} s (exact/IWAE time {exact_s / iwae_s:.2f}x)"
    )
    print(
        f"mean log p(x): exact {exact.mean:.3f} (mean stated error {exact.error.mean():.2g}, "
        f"max {exact.error.max():.2g}), IWAE {iwae.mean():.3f}; mean |IWAE - exact| "
        f"{np.abs(diff).mean():.3f}, IWAE - exact: median {np.median(diff):.3f}, "
        f"max {diff.max():.3f}; points with IWAE > exact + error: "
        f"{int((diff > exact.error).sum())}; fine grid points per side: "
        + ", ".join(f"{m}: {c}" for m, c in zip(*sizes, strict=True))
    )
    print(f"# load average at end: {os.getloadavg()}")


# Run in a child with a checkout's directory first on sys.path: its own vae and ui.
PANEL_CHILD = """
import json, sys, time
import numpy as np, torch
from vae import load_checkpoint
from vae.data import load_dataset
from vae.inference import decode_plane
from ui.inference_lab import compute_point
checkpoint, dataset, indices = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
torch.set_num_threads(1)  # the app's page threads on a 2-core machine (interactive_threads)
model, metadata = load_checkpoint(checkpoint)
model.eval()
for parameter in model.parameters():  # as the app holds a saved model
    parameter.requires_grad_(False)
x = np.asarray(load_dataset(dataset or metadata["dataset"]).x_test, dtype=np.float32)
started = time.perf_counter()
plane = decode_plane(model)
plane_s = time.perf_counter() - started
started = time.perf_counter()
compute_point(model, plane, x[0], 0)  # once per process: torch.optim's first step
first_s = time.perf_counter() - started
seconds = []
for index in indices:
    started = time.perf_counter()
    compute_point(model, plane, x[index], index)
    seconds.append(time.perf_counter() - started)
print(json.dumps({"plane": plane_s, "first": first_s, "seconds": seconds}))
"""


def _panel_times(root: Path, checkpoint: Path, dataset: str | None, indices: list[int]) -> dict:
    """compute_point's seconds per index, timed by `root`'s code in a child process."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-c", PANEL_CHILD, str(checkpoint.resolve()), dataset or "",
               json.dumps(indices)]  # fmt: skip
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    main()

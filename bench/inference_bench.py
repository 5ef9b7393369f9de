"""Inference lab: the posterior panel's time per chosen point, and exact log p(x) against IWAE.

1. The posterior panel (ui.inference_lab.compute_point, what the page runs after a click: q*,
   log p(x) by quadrature, the posterior grid, the KL check) for `--clicks` random test points,
   on one torch thread as the app runs it; the decoded plane is built once per model and
   timed apart. Target: median <= 1 s on the default Fashion-MNIST MLP.
2. log p(x) by quadrature over `--n` test points against the IWAE bound with k = `--iw-k`,
   same points, same thread count: seconds of each and their ratio, the mean values, the mean
   |difference| and the quadrature's stated error.

    .venv/bin/python bench/inference_bench.py --checkpoint models/fashion.safetensors
"""

from __future__ import annotations

import os
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

    from ui.inference_lab import compute_point  # imports Streamlit: only for part 1

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the app's page threads on a 2-core machine (interactive_threads)
    started = time.perf_counter()
    plane = decode_plane(model)
    plane_s = time.perf_counter() - started
    rng = np.random.default_rng(args.seed)
    first = time.perf_counter()
    compute_point(model, plane, x_test[0], 0)  # once per process: torch.optim's first step
    first_s = time.perf_counter() - first
    times, gaps = [], []
    for index in rng.choice(len(x_test), size=args.clicks, replace=False):
        started = time.perf_counter()
        point = compute_point(model, plane, x_test[index], int(index))
        times.append(time.perf_counter() - started)
        gaps.append(point.approximation_gap)
    times_ms = 1000 * np.array(times)
    print(
        f"posterior panel, 1 thread, {args.clicks} points: median {np.median(times_ms):.0f} ms, "
        f"p90 {np.percentile(times_ms, 90):.0f} ms, max {times_ms.max():.0f} ms "
        f"(plane once per model {1000 * plane_s:.0f} ms; first point of the process "
        f"{1000 * first_s:.0f} ms); target median <= 1000 ms: "
        f"{'met' if np.median(times_ms) <= 1000 else 'not met'}"
    )
    print(f"# load average after part 1: {os.getloadavg()}")

    torch.set_num_threads(threads)
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


if __name__ == "__main__":
    main()

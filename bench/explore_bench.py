"""Explore pages' heavy computations, measured side by side on this machine (ratios, not targets).

1. Aggregate posterior on a grid: the separable matrix product (grid_mixture_density) against
   the pointwise log-space sum (mixture_log_density), same grid and components; max |difference|.
2. A small toy VAE training step on 1 torch thread against the default thread count.

    .venv/bin/python bench/explore_bench.py [--grid 200] [--components 10000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine_info  # noqa: E402
from vae import VAE, ModelConfig  # noqa: E402
from vae.density import grid_mixture_density, mixture_log_density  # noqa: E402
from vae.losses import vae_loss  # noqa: E402


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def density(grid: int, components: int) -> None:
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(components, 2))
    sigma = np.exp(rng.normal(-1.5, 0.3, size=(components, 2)))
    xs = ys = np.linspace(-4, 4, grid)
    gx, gy = np.meshgrid(xs, ys)
    z = np.stack([gx.ravel(), gy.ravel()], 1)
    fast = best_of(lambda: grid_mixture_density(xs, ys, mu, sigma))
    slow = best_of(lambda: mixture_log_density(z, mu, sigma), repeats=1)
    with np.errstate(divide="ignore"):
        diff = np.abs(
            np.log(grid_mixture_density(xs, ys, mu, sigma)).ravel()
            - mixture_log_density(z, mu, sigma)
        )
    print(
        f"aggregate density {grid}x{grid} grid x {components:,} components: separable {fast:.3f} s, "
        f"pointwise {slow:.3f} s -> {slow / fast:.0f}x faster; max |log difference| {diff.max():.1e}"
    )


def toy_steps(steps: int = 100) -> None:
    model = VAE(
        ModelConfig(input_dim=3, hidden=(128, 128), likelihood="gaussian", gaussian_sigma=0.1)
    )
    optimizer = torch.optim.Adam(model.parameters())
    x = torch.randn(128, 3)

    def run() -> None:
        for _ in range(steps):
            loss = vae_loss(model, x).loss.mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    default = torch.get_num_threads()
    t_default = best_of(run)
    torch.set_num_threads(1)
    t_one = best_of(run)
    torch.set_num_threads(default)
    print(
        f"toy VAE step (3-128-128-2, batch 128): {default} threads {1000 * t_default / steps:.1f} ms, "
        f"1 thread {1000 * t_one / steps:.1f} ms -> 1 thread is {t_default / t_one:.1f}x faster"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=200)
    parser.add_argument("--components", type=int, default=10_000)
    args = parser.parse_args()
    print(machine_info(torch.device("cpu")))
    density(args.grid, args.components)
    toy_steps()


if __name__ == "__main__":
    main()

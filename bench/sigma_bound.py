"""The posterior sigma bound, before vs after: largest sigma over hostile inputs, and quality.

Two Fashion-MNIST checkpoints made by the same command, 30 epochs, the default 784-512-256-2 MLP:

    # before: the code without the bound (commit ecbca26), or today's with the bound switched off
    python -m vae train --dataset fashion-mnist --dynamic-binarization --epochs 30 --seed 0 \
        --out before.safetensors
    # after: today's code (ModelConfig.max_posterior_sigma = 3)
    python -m vae train --dataset fashion-mnist --dynamic-binarization --epochs 30 --seed 0 \
        --out after.safetensors
    python bench/sigma_bound.py --before before.safetensors --after after.safetensors

Prints, side by side, the largest posterior sigma of each model over: the train and test
images, the test set binarised under 20 seeds, uniform noise, all-zeros, all-ones, a grey
image, the inverted test set, MNIST's test digits (foreign images, when on disk) and huge
values; then the robust test ELBO of vae.train.evaluate over all 10k test images (10 z per
example, 5 binarisations) and the importance-weighted log-likelihood (k = 1000, all 10k, the
fixed binarisation of the training run's protocol: seed + 1). A third column, "after,
unbounded", is the after model's weights with the bound switched off (its raw log-variance
head): what the bound itself changes on the same network. The IWAE of the unbounded models is
skipped unless --iw-before.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.machine import cpu_model, utc_stamp  # noqa: E402
from vae import VAE, load_checkpoint  # noqa: E402
from vae.config import EVAL_BINARIZATIONS, EVAL_Z_SAMPLES  # noqa: E402
from vae.data import load_dataset  # noqa: E402
from vae.data.idx import read_idx_pair  # noqa: E402
from vae.losses import iwae_log_likelihood  # noqa: E402
from vae.train import binarize_test_set, evaluate  # noqa: E402

SIGMA_SEEDS = 20  # binarisations of the test set searched for the largest sigma (the issue's)
# ../shared/data/mnist beside the checkout (or beside the folder of a git worktree).
MNIST_DIRS = tuple(Path(__file__).resolve().parents[n] / "shared/data/mnist" for n in (2, 3))


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


@torch.no_grad()
def largest_sigma(model, x: np.ndarray | torch.Tensor, batch: int = 8192) -> float:
    """max over examples and latent dimensions of the posterior sigma, (N, D) in."""
    x = torch.as_tensor(x, dtype=torch.float32)
    best = -float("inf")
    for chunk in x.split(batch):
        _, logvar = model.encode(chunk)
        best = max(best, float(logvar.max()))
    return float(np.exp(0.5 * best))


def hostile_inputs(data) -> dict[str, object]:
    """name -> (N, 784) array, or a callable giving an iterator of arrays (the 20 binarisations)."""
    rng = np.random.default_rng(0)
    x_test = data.x_test
    inputs: dict[str, object] = {
        "train images (60k)": data.x_train,
        "test images (10k)": x_test,
        f"test binarised, {SIGMA_SEEDS} seeds (200k)": lambda: (
            binarize_test_set(torch.as_tensor(x_test), seed) for seed in range(SIGMA_SEEDS)
        ),
        "uniform noise (10k)": rng.random((10_000, 784), dtype=np.float32),
        "all zeros": np.zeros((1, 784), np.float32),
        "all ones": np.ones((1, 784), np.float32),
        "grey 0.5": np.full((1, 784), 0.5, np.float32),
        "inverted test (10k)": 1.0 - x_test,
        "huge values (+-1e6)": np.stack([np.full(784, 1e6), np.full(784, -1e6)]).astype("f4"),
    }
    for folder in MNIST_DIRS:
        if (folder / "t10k-images-idx3-ubyte.gz").is_file():
            images, _ = read_idx_pair(
                folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
            )
            inputs["MNIST test digits (10k, foreign)"] = images.reshape(-1, 784) / np.float32(255)
            break
    else:
        print(f"MNIST test digits: not found in {', '.join(map(str, MNIST_DIRS))}; skipped")
    return inputs


def sigma_table(models: dict[str, object], data) -> None:
    names = list(models)
    print(f"\nlargest posterior sigma   {'  '.join(f'{n:>12}' for n in names)}")
    overall = dict.fromkeys(names, 0.0)
    for what, x in hostile_inputs(data).items():
        row = []
        for name, model in models.items():
            arrays = x() if callable(x) else [x]
            value = max(largest_sigma(model, a) for a in arrays)
            overall[name] = max(overall[name], value)
            row.append(f"{value:12.4g}")
        print(f"{what:<40} {'  '.join(row)}", flush=True)
    print(f"{'largest of all':<40} {'  '.join(f'{overall[n]:12.4g}' for n in names)}")


def quality(name: str, model, data, seed: int, iw_k: int) -> None:
    x_test = torch.as_tensor(data.x_test)
    start = time.perf_counter()
    metrics = evaluate(model, x_test, binarizations=EVAL_BINARIZATIONS, seed=0)
    print(
        f"{name}: robust test ELBO {metrics['elbo']:.2f} +- {metrics['elbo_sem']:.2f} "
        f"(recon {metrics['recon']:.2f}, KL {metrics['kl']:.2f}; all {len(x_test):,} test "
        f"images x {EVAL_BINARIZATIONS} binarisations x {EVAL_Z_SAMPLES} z; largest sigma "
        f"{metrics['max_sigma']:.4g}) [{time.perf_counter() - start:.0f} s]",
        flush=True,
    )
    if iw_k:
        start = time.perf_counter()
        x_fixed = binarize_test_set(x_test, seed)
        ll = iwae_log_likelihood(model, x_fixed, k=iw_k, seed=0)
        print(
            f"{name}: IW log-likelihood {float(ll.mean()):.2f} (k={iw_k}, all {len(ll):,}, "
            f"fixed binarisation seed + 1; worst example {float(ll.min()):.4g}) "
            f"[{time.perf_counter() - start:.0f} s]",
            flush=True,
        )


def without_bound(model: VAE) -> VAE:
    """The same weights with the bound switched off: the raw head's sigma, as before the bound."""
    config = dataclasses.replace(model.config, max_posterior_sigma=None)
    raw = VAE(config)
    raw.load_state_dict(model.state_dict())
    return raw.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the unbounded checkpoint")
    parser.add_argument("--after", type=Path, required=True, help="the bounded checkpoint")
    parser.add_argument("--iw", type=int, default=1000, help="IWAE samples k (0 skips)")
    parser.add_argument("--iw-before", action="store_true", help="also the unbounded IWAE")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--sigma-only", action="store_true", help="the sigma table alone")
    args = parser.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {utc_stamp()}; load average {load_average()}")  # fmt: skip
    data = load_dataset("fashion-mnist", data_dir=args.data_dir, download=False)
    models = {}
    for label, path in (("before", args.before), ("after", args.after)):
        model, meta = load_checkpoint(path)
        bound = model.config.max_posterior_sigma
        epochs = len(meta.get("history") or [])
        stopped = " (interrupted)" if meta.get("interrupted") else ""
        train_config = meta.get("train_config") or {}
        binary = "dynamic binarisation" if train_config.get("dynamic_binarization") else "grey"
        print(f"{label}: {path.name}, sigma bound {bound}, {epochs} epochs{stopped}, {binary}")
        models[label] = (model, int(train_config.get("seed", 0)))
    after, after_seed = models.pop("after")
    models["after, unbounded"] = (without_bound(after), after_seed)
    models["after"] = (after, after_seed)
    sigma_table({k: m for k, (m, _) in models.items()}, data)
    if args.sigma_only:
        return
    print()
    for label, (model, seed) in models.items():
        iw_k = args.iw if (label == "after" or args.iw_before) else 0
        quality(label, model, data, seed, iw_k)
    print(f"done {utc_stamp()}; load average {load_average()}")


if __name__ == "__main__":
    main()

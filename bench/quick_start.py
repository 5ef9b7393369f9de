"""Home's quick start: training CPU time and map quality of candidate recipes, over several seeds.

Run: .venv/bin/python bench/quick_start.py [--seeds 3] [--only NAME ...]
For each candidate (model + TrainConfig on the 1,497 digits) prints the CPU seconds of training
(one thread, as the app's job uses on 2 cores: what one free core would take; wall time on a
busy machine is noise), the test ELBO and the 5-NN accuracy of the 2-D test means (trained on the
train means), as mean and spread over seeds. Candidates run interleaved, so that a busy machine
slows them alike. The app's recipe is ui.training.QUICK_START_*; "current" is read from there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from vae import VAE, ModelConfig, TrainConfig  # noqa: E402
from vae.data import load_dataset  # noqa: E402
from vae.latent import encode_dataset, knn_accuracy  # noqa: E402
from vae.train import (
    train,  # noqa: E402
    warm_up,  # noqa: E402
)

H = (256, 128)
# Measured 2026-11-21 (10 seeds, load ~9): 30 ep lr 3e-3 1.39 s CPU, ELBO -25.38, 5-NN 0.64;
# 20 ep lr 8e-3 0.96 s, -25.28, 0.66 (now the app's); 15 ep lr 8e-3 0.73 s, -25.58, 0.62.
CANDIDATES: dict[str, tuple[tuple[int, ...], TrainConfig]] = {
    "30 ep b128 lr3e-3": (H, TrainConfig(epochs=30, batch_size=128, lr=3e-3)),
    "20 ep b128 lr6e-3": (H, TrainConfig(epochs=20, batch_size=128, lr=6e-3)),
    "15 ep b128 lr8e-3": (H, TrainConfig(epochs=15, batch_size=128, lr=8e-3)),
    "12 ep b128 lr1e-2": (H, TrainConfig(epochs=12, batch_size=128, lr=1e-2)),
    "20 ep b256 lr8e-3": (H, TrainConfig(epochs=20, batch_size=256, lr=8e-3)),
    # Binarised digits (#18): lower peaks, more updates per epoch, a KL warm-up.
    "20 ep b128 lr4e-3": (H, TrainConfig(epochs=20, batch_size=128, lr=4e-3)),
    "20 ep b128 lr8e-3 warm-up 5": (H, TrainConfig(epochs=20, batch_size=128, lr=8e-3, warmup_epochs=5)),
    "15 ep b64 lr4e-3": (H, TrainConfig(epochs=15, batch_size=64, lr=4e-3)),
    "10 ep b32 lr2e-3": (H, TrainConfig(epochs=10, batch_size=32, lr=2e-3)),
    "20 ep b64 lr3e-3": (H, TrainConfig(epochs=20, batch_size=64, lr=3e-3)),
    "20 ep b128 lr8e-3 warm-up 10": (H, TrainConfig(epochs=20, batch_size=128, lr=8e-3, warmup_epochs=10)),
    "20 ep b128 lr8e-3 warm-up 15": (H, TrainConfig(epochs=20, batch_size=128, lr=8e-3, warmup_epochs=15)),
    "20 ep b128 lr6e-3 warm-up 10": (H, TrainConfig(epochs=20, batch_size=128, lr=6e-3, warmup_epochs=10)),
    "25 ep b128 lr6e-3 warm-up 5": (H, TrainConfig(epochs=25, batch_size=128, lr=6e-3, warmup_epochs=5)),
    "30 ep b128 lr3e-3 warm-up 5": (H, TrainConfig(epochs=30, batch_size=128, lr=3e-3, warmup_epochs=5)),
}  # fmt: skip


def one(data, hidden, config: TrainConfig, seed: int) -> tuple[float, float, float]:
    """(training CPU seconds, test ELBO, 5-NN accuracy) of one run."""
    config = TrainConfig(**{**config.to_dict(), "seed": seed})
    torch.manual_seed(seed)
    model = VAE(ModelConfig(input_dim=64, image_shape=(8, 8), hidden=hidden))
    cpu = time.process_time()
    result = train(model, data.x_train, data.x_test, config)
    cpu = time.process_time() - cpu
    test_mu, _ = encode_dataset(model, data.x_test)
    train_mu, _ = encode_dataset(model, data.x_train)
    knn = knn_accuracy(train_mu, data.y_train, test_mu, data.y_test)
    return cpu, result.history[-1]["test_elbo"], knn


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:7.2f} ± {sd:4.2f}" if abs(mean) > 2 else f"{mean:5.3f} ± {sd:5.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    args = parser.parse_args()
    from ui.training import QUICK_START_MODEL, QUICK_START_TRAIN

    candidates = {
        "current (ui.training)": (QUICK_START_MODEL["hidden"], QUICK_START_TRAIN),
        # The same recipe on grey levels, as before dynamic binarisation was the default (#18).
        "current, grey levels": (
            QUICK_START_MODEL["hidden"],
            TrainConfig(**{**QUICK_START_TRAIN.to_dict(), "dynamic_binarization": False}),
        ),
    }
    candidates.update(CANDIDATES)
    if args.only:
        candidates = {k: v for k, v in candidates.items() if k in args.only}
    torch.set_num_threads(1)  # cpu_threads_per_job() on a 2-core machine
    data = load_dataset("digits")
    warm_up()  # the first training in a process pays ~1.3 s of lazy imports (torch._dynamo)
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in candidates}
    for seed in range(args.seeds):
        for name, (hidden, config) in candidates.items():
            runs[name].append(one(data, hidden, config, seed))
    print(
        f"{'candidate':30s} {'steps':>5s}  {'train CPU s':>14s}  {'test ELBO':>15s}  {'5-NN acc':>15s}"
    )
    for name, results in runs.items():
        hidden, config = candidates[name]
        steps = config.epochs * -(-len(data.x_train) // config.batch_size)
        cpu, elbo, knn = (list(column) for column in zip(*results, strict=True))
        print(f"{name:30s} {steps:5d}  {spread(cpu):>14s}  {spread(elbo):>15s}  {spread(knn):>15s}")
    print(
        f"{args.seeds} seeds each; load average {' '.join(f'{v:.1f}' for v in __import__('os').getloadavg())}"
    )


if __name__ == "__main__":
    main()

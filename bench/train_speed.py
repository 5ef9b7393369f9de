"""Seconds per training epoch: vae.train.train vs the pytorch/examples DataLoader loop.

Same model (VAE(ModelConfig(784)), the app's default 784-512-256-2 MLP), same data (Fashion-MNIST,
60k training images, dynamic binarisation), same batch size (128), one epoch each, alternated
round by round in one process so that the machine's load falls on both alike.
The baseline is bench/train_common.py's faithful copy of pytorch/examples `vae/main.py`:
TensorDataset + DataLoader(batch_size=128, shuffle=True), `loss.item()` each step, default Adam.

It also prints the "GEMM floor": the time of the matrix products alone that one epoch of this
model needs at this batch size. No training loop can beat it, so baseline / floor is the most
any loop could gain on this machine.

    .venv/bin/python bench/train_speed.py [--rounds 5] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import bench_parser, header, use_machine  # noqa: E402
from bench.train_common import (  # noqa: E402
    examples_loader,
    examples_train_epoch,
    load_fashion_mnist,
    timed,
)
from vae import VAE, ModelConfig, TrainConfig, train  # noqa: E402


def gemm_floor(config: ModelConfig, batch: int, n: int, device: torch.device) -> float:
    """Seconds per epoch of the matrix products alone: forward, weight and input gradients."""
    widths = (config.input_dim, *config.hidden)
    shapes = list(zip(widths, widths[1:], strict=False))  # encoder body
    shapes.append((config.hidden[-1], 2 * config.latent_dim))  # encoder head
    back = (config.latent_dim, *reversed(config.hidden), config.input_dim)
    shapes += list(zip(back, back[1:], strict=False))  # decoder
    products = []
    for i, (fan_in, fan_out) in enumerate(shapes):
        x = torch.rand(batch, fan_in, device=device)
        w = torch.rand(fan_out, fan_in, device=device)
        g = torch.rand(batch, fan_out, device=device)
        products.append(lambda x=x, w=w: x @ w.t())  # forward (B, out)
        products.append(lambda x=x, g=g: g.t() @ x)  # weight gradient (out, in)
        if i > 0:  # the data need no gradient
            products.append(lambda w=w, g=g: g @ w)  # input gradient (B, in)

    def one_step() -> None:
        for product in products:
            product()

    for _ in range(10):
        one_step()
    repeats = 100
    seconds, _ = timed(lambda: [one_step() for _ in range(repeats)], device)
    return seconds / repeats * math.ceil(n / batch)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs of each (median)")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    device = use_machine(args)
    x_train, y_train, _, _, source = load_fashion_mnist()
    print(header("train_speed.py", device))
    print(f"# data: Fashion-MNIST {x_train.shape} from {source}")

    model_config = ModelConfig(input_dim=784, image_shape=(28, 28))
    torch.manual_seed(0)
    theirs = VAE(model_config).to(device)
    optimizer = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    loader = examples_loader(x_train, y_train, batch_size=args.batch_size)
    ours = VAE(model_config)
    config = TrainConfig(
        epochs=1, batch_size=args.batch_size, dynamic_binarization=True, device=str(device)
    )

    def baseline_epoch() -> None:
        examples_train_epoch(theirs, loader, optimizer, device)

    def our_epoch() -> None:
        train(ours, x_train, None, config)

    baseline_epoch()  # warm-up: allocator, thread pools, first-touch of the data
    our_epoch()
    base_times, our_times = [], []
    for round_ in range(1, args.rounds + 1):
        base_s, _ = timed(baseline_epoch, device)
        our_s, _ = timed(our_epoch, device)
        base_times.append(base_s)
        our_times.append(our_s)
        print(
            f"round {round_}: baseline {base_s:7.2f} s/epoch   ours {our_s:7.2f} s/epoch   "
            f"ratio {base_s / our_s:5.2f}x",
            flush=True,
        )
    base, mine = statistics.median(base_times), statistics.median(our_times)
    floor = gemm_floor(model_config, args.batch_size, len(x_train), device)
    print(f"median seconds/epoch: baseline {base:.3f}, ours {mine:.3f}: ours is {base / mine:.2f}x")
    print(
        f"per-round ratios: {', '.join(f'{b / o:.2f}' for b, o in zip(base_times, our_times, strict=True))}"
    )
    print(
        f"GEMM floor {floor:.3f} s/epoch: the best any loop could do is {base / floor:.2f}x the "
        f"baseline; ours spends {100 * floor / mine:.0f}% of its epoch in matrix products"
    )


if __name__ == "__main__":
    main()

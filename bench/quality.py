"""Quality of the default model and trainer vs the pytorch/examples baseline, 2-D latent.

Protocol (the literature's, and the CLI's default since #18): Bernoulli p(x|z), dynamic
binarisation (a fresh x ~ Bernoulli(pixels) each time a training image is used), full
Fashion-MNIST 60k/10k, 30 epochs. Ours: VAE(ModelConfig(784, image_shape=(28, 28))) and
TrainConfig() with their defaults (what `python -m vae train --dataset fashion-mnist` trains),
trained by vae.train.train, which binarises (vae.train.binarize). Baseline: 784-512-256-2 ReLU
MLP, Adam(1e-3), batch 128, trained by the pytorch/examples loop on the same binary draws.

The two are trained interleaved, one baseline epoch inside each of our epoch callbacks, so that
whatever else loads the machine slows both alike; the callback's time is taken out of ours.
Both are scored as `python -m vae evaluate` scores a model: the robust test ELBO
(vae.train.evaluate over EVAL_BINARIZATIONS binarisations x EVAL_Z_SAMPLES draws of z per
example) and the importance-weighted log-likelihood (vae.losses.iwae_log_likelihood) on the
training run's fixed binarisation of the test set (vae.train.binarize_test_set, seed + 1).
The per-epoch lines show the trainer's cheap test ELBO (one z, that fixed draw).
Then "time to quality": our training wall time until our per-epoch test ELBO first reaches the
baseline's 30-epoch one, vs the baseline's 30 epochs. Our recipe for that may be shorter than
the baseline's (`--set epochs=15 ... --baseline-epochs 30`): the baseline then finishes its
epochs alone after ours.
The MNIST protocol (Davidson et al. 2018, 2-D Gaussian VAE: ELBO -137.1, LL -135.7) runs when
the MNIST training images are on disk; otherwise it says so and is skipped.

    .venv/bin/python bench/quality.py                      # the full protocol
    .venv/bin/python bench/quality.py --no-baseline --no-mnist   # ours only: the CLI default
    .venv/bin/python bench/quality.py --iw-k 100 --iw-n 2000 --no-baseline --set lr=2e-3
    .venv/bin/python bench/quality.py --no-mnist --iw-k 1 --iw-n 100 --baseline-epochs 30 \
        --set epochs=15 batch_size=256 lr=4e-3          # time to quality, a short recipe
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import bench_parser, header, machine_info, use_machine  # noqa: E402
from bench.train_common import (  # noqa: E402
    ExamplesVAE,
    examples_loader,
    examples_test,
    examples_train_epoch,
    load_fashion_mnist,
)
from vae import VAE, ModelConfig, TrainConfig, iwae_log_likelihood, train  # noqa: E402
from vae.config import EVAL_BINARIZATIONS, EVAL_Z_SAMPLES  # noqa: E402
from vae.train import binarize_test_set, evaluate  # noqa: E402

FASHION_REFERENCE = {"test_elbo": -255.8, "iw_ll": -253.5}  # the baseline, 30 epochs
MNIST_REFERENCE = {"test_elbo": -137.1, "iw_ll": -135.7}  # Davidson et al. 2018, N-VAE, d=2
MNIST_DIRS = (
    Path(__file__).resolve().parents[2] / "shared/data/mnist",
    Path("/usr/share/datasets/mnist"),
)


def parse_overrides(pairs: list[str]) -> tuple[dict, dict]:
    """`key=value` pairs into (ModelConfig, TrainConfig) keyword overrides, by field name."""
    model_fields = set(ModelConfig.__dataclass_fields__)
    model_kw, train_kw = {}, {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        value = json.loads(raw) if raw[:1] in '[{"0123456789-tfn' else raw
        if key == "hidden":
            value = tuple(value)
        (model_kw if key in model_fields else train_kw)[key] = value
    return model_kw, train_kw


IW_CHUNK = 500  # test images per progress line of the IW bound


def iw_ll(model, x_bin: torch.Tensor, k: int, n: int, label: str) -> tuple[float, float]:
    """Mean IWAE log-likelihood (k samples) over the first n binary test examples, and its
    seconds; a running mean is printed every IW_CHUNK examples, so that a run stopped early
    still says what it had."""
    model.eval()
    start = time.perf_counter()
    parts = []
    for first in range(0, min(n, len(x_bin)), IW_CHUNK):
        chunk = x_bin[first : min(n, first + IW_CHUNK)]
        parts.append(iwae_log_likelihood(model, chunk, k=k, seed=first))
        done = torch.cat(parts)
        print(f"{label}IW log-likelihood (k={k}) over the first {len(done):,} test images: "
              f"{float(done.mean()):.2f} [{time.perf_counter() - start:.0f}s]", flush=True)  # fmt: skip
    return float(torch.cat(parts).mean()), time.perf_counter() - start


def score(
    label: str, net, x_test: np.ndarray, seed: int, args: argparse.Namespace, device: torch.device
) -> dict:
    """The robust test ELBO and the IW log-likelihood (--iw-k, --iw-n) of one contender, scored
    as `python -m vae evaluate` scores a dynamically binarised model, printed as they come."""
    x = torch.as_tensor(x_test).to(device)  # grey levels: evaluate draws the binarisations
    start = time.perf_counter()
    metrics = evaluate(net, x, binarizations=EVAL_BINARIZATIONS, seed=0)
    elbo_seconds = time.perf_counter() - start
    print(
        f"{label}test ELBO {metrics['elbo']:8.2f} ± {metrics['elbo_sem']:.2f} (all {len(x):,} "
        f"test images x {EVAL_BINARIZATIONS} binarisations x {EVAL_Z_SAMPLES} z; largest sigma "
        f"{metrics['max_sigma']:.3g}) [{elbo_seconds:.0f}s]",
        flush=True,
    )
    # The training run's fixed binarisation of the test set (seed + 1), as the CLI's IWAE.
    ll, seconds = iw_ll(net, binarize_test_set(x, seed), args.iw_k, args.iw_n, label)
    return {
        "test_elbo": metrics["elbo"],
        "test_elbo_sem": metrics["elbo_sem"],
        "binarizations": EVAL_BINARIZATIONS,
        "z_samples": EVAL_Z_SAMPLES,
        "max_sigma": metrics["max_sigma"],
        "iw_ll": ll,
        "iw_k": args.iw_k,
        "iw_n": min(args.iw_n, len(x)),
        "seconds": {"elbo": elbo_seconds, "iw": seconds},
    }


def time_to_quality(ours_log: list[dict], base_log: list[dict]) -> dict | None:
    """Our wall time to the baseline's final test ELBO, vs the baseline's whole run."""
    target, base_seconds = base_log[-1]["elbo"], base_log[-1]["seconds"]
    reached = next((r for r in ours_log if r["elbo"] >= target), None)
    if reached is None:
        print(f"time to quality: ours never reached the baseline's {target:.2f}")
        return None
    ratio = reached["seconds"] / base_seconds
    print(
        f"time to quality (test ELBO >= {target:.2f}): ours {reached['seconds']:.1f}s "
        f"(epoch {reached['epoch']}) vs baseline {base_seconds:.1f}s "
        f"({len(base_log)} epochs): {ratio:.3f}x the time"
    )
    return {"target": target, "ours": reached, "baseline_s": base_seconds, "ratio": ratio}


def combine(ours_path: Path, base_path: Path) -> None:
    """Time to quality from two runs started together (--no-baseline and --no-ours)."""
    ours = json.loads(ours_path.read_text())["fashion-mnist"]
    base = json.loads(base_path.read_text())["fashion-mnist"]
    for name, run in (("ours", ours["ours"]), ("baseline", base["baseline"])):
        print(
            f"{name:8s} test ELBO {run['test_elbo']:8.2f}  IW LL (k={run['iw_k']}, n={run['iw_n']}) {run['iw_ll']:8.2f}"
        )
    time_to_quality(ours["ours_history"], base["baseline_history"])


def evaluate_saved(folder: Path, args: argparse.Namespace, device: torch.device) -> None:
    """Score the Fashion-MNIST models kept by --save again, e.g. with a larger --iw-n."""
    _, _, x_test, _, _ = load_fashion_mnist()
    model_kw, train_kw = parse_overrides(args.set)
    ours = VAE(ModelConfig(input_dim=784, image_shape=(28, 28), **model_kw))
    seed = TrainConfig(**train_kw).seed
    for name, net in (("ours", ours), ("baseline", ExamplesVAE())):
        path = folder / f"Fashion-MNIST-{name}.pt"
        if not path.exists():  # e.g. a --no-baseline run
            print(f"{name:8s} not in {folder}: skipped")
            continue
        net.load_state_dict(torch.load(path, weights_only=True))
        net.to(device).eval()
        score(f"{name:8s} ", net, x_test, seed, args, device)


def run_protocol(
    label: str,
    x_train: np.ndarray,
    x_test: np.ndarray,
    reference: dict[str, float],
    args: argparse.Namespace,
    device: torch.device,
) -> dict:
    """Train ours (and the interleaved baseline unless --no-baseline); score both the same way."""
    model_kw, train_kw = parse_overrides(args.set)
    if args.epochs is not None:
        train_kw["epochs"] = args.epochs
    train_kw.setdefault("device", str(device))
    model_config = ModelConfig(input_dim=784, image_shape=(28, 28), **model_kw)
    train_config = TrainConfig(**train_kw).for_model(model_config)
    # The per-epoch test set of both: the trainer's fixed draw (vae.train.binarize_test_set).
    x_test_bin = binarize_test_set(torch.as_tensor(x_test), train_config.seed).numpy()
    epochs = train_config.epochs
    baseline_epochs = args.baseline_epochs or epochs
    print(f"## {label}: ours {model_config.to_dict()}\n#   {train_config.to_dict()}")

    baseline = None
    base_log: list[dict] = []
    if not args.no_baseline:
        torch.manual_seed(0)
        baseline = ExamplesVAE().to(device)
        base_opt = torch.optim.Adam(baseline.parameters(), lr=1e-3)
        train_loader = examples_loader(x_train, np.zeros(len(x_train), dtype=np.int64))
        test_loader = examples_loader(x_test_bin, np.zeros(len(x_test), dtype=np.int64))
    callback_seconds = [0.0]
    ours_log: list[dict] = []

    def baseline_epoch(epoch: int) -> str:
        start = time.perf_counter()
        examples_train_epoch(baseline, train_loader, base_opt, device)
        test_elbo = -examples_test(baseline, test_loader, device)
        spent = time.perf_counter() - start
        callback_seconds[0] += spent
        total = (base_log[-1]["seconds"] if base_log else 0.0) + spent
        base_log.append({"epoch": epoch, "seconds": total, "elbo": test_elbo})
        return f"   baseline {total:7.1f}s test ELBO {test_elbo:8.2f}"

    def on_epoch(report) -> None:
        ours_seconds = report.seconds - callback_seconds[0]
        ours_log.append({"epoch": report.epoch, "seconds": ours_seconds, **report.test})
        line = f"epoch {report.epoch:3d}  ours {ours_seconds:7.1f}s test ELBO {report.test['elbo']:8.2f}"
        if baseline is not None:
            line += baseline_epoch(report.epoch)
        print(line, flush=True)

    model = None
    if not args.no_ours:
        torch.manual_seed(0)
        model = VAE(model_config)
        train(model, x_train, x_test, train_config, on_epoch=on_epoch)  # it binarises
    if baseline is not None:  # the baseline's epochs that had no epoch of ours to pair with
        for epoch in range(len(base_log) + 1, baseline_epochs + 1):
            print(f"epoch {epoch:3d}" + " " * 34 + baseline_epoch(epoch), flush=True)

    results: dict = {"model_config": model_config.to_dict(), "train_config": train_config.to_dict()}
    contenders = [("ours", model), ("baseline", baseline)]
    for name, net in [(name, net) for name, net in contenders if net is not None]:
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            torch.save(net.state_dict(), args.save / f"{label}-{name}.pt")
        done = len(base_log) if name == "baseline" else len(ours_log)
        results[name] = score(
            f"{name:8s} {done} epochs: ", net, x_test, train_config.seed, args, device
        )
    print(f"reference: test ELBO {reference['test_elbo']}  IW LL {reference['iw_ll']}")
    results["ours_history"], results["baseline_history"] = ours_log, base_log

    if base_log and ours_log:
        results["time_to_quality"] = time_to_quality(ours_log, base_log)
    return results


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--epochs", type=int, default=None, help="override both (default 30)")
    parser.add_argument(
        "--baseline-epochs", type=int, default=None, help="the baseline's epochs (default: ours)"
    )
    parser.add_argument("--iw-k", type=int, default=1000)
    parser.add_argument("--iw-n", type=int, default=10_000, help="test examples for the IW bound")
    parser.add_argument("--no-baseline", action="store_true", help="train ours only (tuning)")
    parser.add_argument("--no-ours", action="store_true", help="train the baseline only")
    parser.add_argument("--save", type=Path, help="keep both state_dicts in this folder")
    parser.add_argument("--no-mnist", action="store_true", help="skip the MNIST protocol")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--evaluate-saved", type=Path, metavar="DIR", help="score --save models")
    parser.add_argument("--combine", nargs=2, type=Path, metavar=("OURS.json", "BASE.json"))
    args = parser.parse_args()
    if args.combine:
        combine(*args.combine)
        return
    device = use_machine(args)
    print(header("quality.py", device))
    if args.evaluate_saved:
        evaluate_saved(args.evaluate_saved, args, device)
        return
    results: dict = {"machine": machine_info(device), "command": " ".join(sys.argv)}
    x_train, _, x_test, _, source = load_fashion_mnist()
    print(f"# Fashion-MNIST from {source}")
    results["fashion-mnist"] = run_protocol(
        "Fashion-MNIST", x_train, x_test, FASHION_REFERENCE, args, device
    )
    mnist = next((d for d in MNIST_DIRS if any(d.glob("train-images-idx3-ubyte*"))), None)
    if args.no_mnist:
        pass
    elif mnist is None:
        print(
            "MNIST protocol (Davidson et al. 2018): SKIPPED, no MNIST training images in "
            + " or ".join(str(d) for d in MNIST_DIRS)
        )
    else:
        from vae.data import load_dataset

        data = load_dataset("mnist", data_dir=mnist)
        results["mnist"] = run_protocol(
            "MNIST", data.x_train, data.x_test, MNIST_REFERENCE, args, device
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

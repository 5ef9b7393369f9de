"""The command line: `python -m vae train | evaluate | info | list`.

Progress goes to stderr, results to stdout. Every expected failure (bad arguments, a missing or
broken checkpoint, bad data, an unavailable device, a diverged run) ends with one line
`error: ...` on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, get_args

from .checkpoint import SUFFIX, CheckpointError, load_checkpoint, make_metadata, read_metadata
from .config import ConfigError, LrSchedule, ModelConfig, TrainConfig
from .library import ModelLibrary, default_library_root, safe_model_name

DATASET_CHOICES = ("digits", "mnist", "fashion-mnist", "swiss-roll", "s-curve")  # = vae.data's
_TRAIN_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


class CommandError(Exception):
    """A problem with what the user asked for, reported as one `error:` line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`error: ...`) instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


class _DefaultsFormatter(argparse.HelpFormatter):
    """Shows meaningful defaults only: not None, not False, not where the help already says."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if default is None or default is False or default == argparse.SUPPRESS or "default" in text:
            return text
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else "%(default)s"
        return f"{text} (default: {shown})"


# --- argument types ------------------------------------------------------------------------


def _hidden_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden takes comma-separated layer widths such as 512,256, not {text!r}"
        ) from None
    if not widths:
        raise argparse.ArgumentTypeError("--hidden needs at least one layer width")
    return widths


def _int_at_least(low: int):
    """An argparse type: a whole number >= low, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a number of at least {low}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m vae",
        description="Train, evaluate and inspect variational autoencoders with a 2-D latent space.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    defaults = {"formatter_class": _DefaultsFormatter}
    commands.required = True

    train = commands.add_parser("train", help="train a VAE and save a checkpoint", **defaults)
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=DATASET_CHOICES, help="a built-in dataset")
    source.add_argument("--data", type=Path, metavar="FILE",
                        help="your own data: .npz, .npy, .csv, or a .zip / folder of images")  # fmt: skip
    train.add_argument("--data-dir", type=Path, metavar="DIR",
                       help="folder with the MNIST / Fashion-MNIST IDX files")  # fmt: skip
    d = _TRAIN_DEFAULTS
    train.add_argument(
        "--epochs", type=_positive_int, default=d["epochs"], help="passes over the data"
    )
    train.add_argument("--batch-size", type=_positive_int, default=d["batch_size"],
                       help="examples per gradient step")  # fmt: skip
    train.add_argument("--lr", type=_number, default=d["lr"], help="Adam's (peak) learning rate")
    train.add_argument("--lr-schedule", choices=get_args(LrSchedule), default=d["lr_schedule"],
                       help="cosine decays the learning rate to lr * final fraction by the end")  # fmt: skip
    train.add_argument("--final-lr-fraction", type=_number, default=d["final_lr_fraction"],
                       metavar="F", help="where the cosine schedule ends, as a fraction of lr")  # fmt: skip
    train.add_argument("--beta", type=_number, default=d["beta"],
                       help="KL weight: 1 is the true ELBO, other values a beta-VAE")  # fmt: skip
    train.add_argument("--warmup-epochs", type=_non_negative_int, default=d["warmup_epochs"],
                       help="ramp the KL weight from 0 to beta over this many epochs")  # fmt: skip
    train.add_argument("--seed", type=_non_negative_int, default=d["seed"],
                       help="seeds the initial weights, batches and sampling")  # fmt: skip
    train.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                       help="auto picks CUDA, then MPS, then the CPU")  # fmt: skip
    train.add_argument("--arch", choices=("mlp", "conv"), default="mlp",
                       help="conv is for 28x28 images (MNIST, Fashion-MNIST)")  # fmt: skip
    train.add_argument("--hidden", type=_hidden_widths, default=(512, 256), metavar="W1,W2,...",
                       help="encoder layer widths; the decoder mirrors them")  # fmt: skip
    train.add_argument("--latent-dim", type=_positive_int, default=2,
                       help="2 lets the app draw the latent space as it is")  # fmt: skip
    train.add_argument("--likelihood", choices=("auto", "bernoulli", "gaussian"), default="auto",
                       help="p(x|z); auto takes the dataset's suggestion")  # fmt: skip
    train.add_argument("--gaussian-sigma", type=_number, default=None, metavar="SIGMA",
                       help="fixed observation noise for the gaussian likelihood (default: learned)")  # fmt: skip
    train.add_argument("--dynamic-binarization", action="store_true",
                       help="resample binary pixels every batch (the standard MNIST protocol)")  # fmt: skip
    train.add_argument("--out", type=Path, metavar="PATH.safetensors",
                       help="where to save (default: the model library, $VAE_EXPLORER_MODELS or ./models)")  # fmt: skip
    train.add_argument("--force", action="store_true", help="replace --out if it exists")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser(
        "evaluate", help="ELBO, IWAE log-likelihood and k-NN accuracy", **defaults
    )
    evaluate.add_argument("--checkpoint", type=Path, required=True, metavar="PATH",
                          help="a .safetensors file written by vae-explorer")  # fmt: skip
    source = evaluate.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=DATASET_CHOICES,
                        help="default: the dataset the checkpoint was trained on")  # fmt: skip
    source.add_argument("--data", type=Path, metavar="FILE", help="your own data file")
    evaluate.add_argument("--data-dir", type=Path, metavar="DIR",
                          help="folder with the MNIST / Fashion-MNIST IDX files")  # fmt: skip
    evaluate.add_argument("--iw", type=_non_negative_int, default=1000, metavar="K",
                          help="importance samples for the IWAE bound on log p(x); 0 skips it")  # fmt: skip
    evaluate.add_argument("--knn", type=_positive_int, default=5, metavar="K",
                          help="neighbours for the k-NN accuracy of latent means")  # fmt: skip
    evaluate.add_argument("--split", choices=("test", "train"), default="test",
                          help="which part of the data to score")  # fmt: skip
    evaluate.add_argument("--seed", type=_non_negative_int, default=0,
                          help="seeds the Monte Carlo samples of z")  # fmt: skip
    evaluate.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                          help="auto picks CUDA, then MPS, then the CPU")  # fmt: skip
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--quiet", action="store_true", help="no progress on stderr")
    evaluate.set_defaults(handler=cmd_evaluate)

    info = commands.add_parser(
        "info", help="what a checkpoint holds (reads the header only)", **defaults
    )
    info.add_argument("--checkpoint", type=Path, required=True, metavar="PATH")
    info.add_argument("--json", action="store_true", help="print the metadata as JSON")
    info.set_defaults(handler=cmd_info)

    listing = commands.add_parser("list", help="the models in the library", **defaults)
    listing.add_argument("--root", type=Path, default=None,
                         help="library folder (default: $VAE_EXPLORER_MODELS or ./models)")  # fmt: skip
    listing.set_defaults(handler=cmd_list)
    return parser


# --- progress --------------------------------------------------------------------------------


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressLine:
    """A one-line progress bar on a terminal (redrawn with \\r); one line per epoch otherwise."""

    def __init__(self, stream: Any, total_steps: int, enabled: bool = True) -> None:
        self.stream = stream
        self.total = max(1, total_steps)
        self.enabled = enabled
        self.live = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.summary = ""  # loss and test ELBO of the last finished epoch
        self.width = 0

    def step(self, done: int, epoch: int, epochs: int, force: bool = False) -> None:
        """Redraw after `done` of all steps (at most 10 times a second)."""
        now = time.perf_counter()
        if not self.live or (not force and now - self.last_draw < 0.1):
            return
        self.last_draw = now
        elapsed = now - self.start
        fraction = min(1.0, done / self.total)
        eta = elapsed / fraction * (1 - fraction) if fraction > 0 else float("nan")
        bar = "#" * int(fraction * 24)
        text = (
            f"epoch {epoch}/{epochs} [{bar:<24}] {fraction:4.0%}{self.summary} "
            f"ETA {_clock(eta) if math.isfinite(eta) else '?'}"
        )
        pad = " " * max(0, self.width - len(text))
        self.width = len(text)
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()

    def epoch_done(
        self, epoch: int, epochs: int, done: int, train: dict, test: dict | None
    ) -> None:
        self.summary = f" loss {train['loss']:.2f}"
        if test is not None:
            self.summary += f" test ELBO {test['elbo']:.2f}"
        if not self.enabled:
            return
        if self.live:
            self.step(done, epoch, epochs, force=True)
        else:
            elapsed = time.perf_counter() - self.start
            eta = elapsed / epoch * (epochs - epoch)
            self.stream.write(f"epoch {epoch}/{epochs}{self.summary} ETA {_clock(eta)}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.live and self.width:
            self.stream.write("\n")
            self.stream.flush()


class _StopOnInterrupt:
    """First Ctrl-C: finish the current batch, then stop and save. Second Ctrl-C: abort."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: Any = None

    def __enter__(self) -> _StopOnInterrupt:
        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread (e.g. main() called from a worker)
            self.previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write(
            "\nstopping after this batch and saving what was trained (Ctrl-C again to abort)\n"
        )
        sys.stderr.flush()

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


# --- shared helpers --------------------------------------------------------------------------


def _load_data(dataset: str | None, data: Path | None, data_dir: Path | None, quiet: bool):
    from .data import load_dataset, load_user_data  # late: keeps `--help` fast

    if data is not None:
        return load_user_data(data)

    shown = []

    def download_progress(done: int, total: int) -> None:
        if not quiet:
            of = f"/{total / 2**20:.1f}" if total else ""
            sys.stderr.write(f"\rdownloading {dataset}: {done / 2**20:.1f}{of} MB")
            sys.stderr.flush()
            shown.append(True)

    try:
        return load_dataset(dataset, data_dir=data_dir, progress=download_progress)
    finally:
        if shown:
            sys.stderr.write("\n")


def _binarize_once(x, seed: int):
    """The test-set protocol of vae.train for dynamically binarised models: one fixed draw."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed + 1)
    return torch.bernoulli(x.cpu(), generator=generator)


def _check_data_fits(dataset, likelihood: str, dynamic: bool) -> None:
    low = min(float(dataset.x_train.min()), float(dataset.x_test.min()))
    high = max(float(dataset.x_train.max()), float(dataset.x_test.max()))
    in_unit_range = low >= 0.0 and high <= 1.0
    if likelihood == "bernoulli" and not in_unit_range:
        raise CommandError(
            f"the bernoulli likelihood needs data in [0, 1], but {dataset.name} spans "
            f"[{low:.3g}, {high:.3g}]; use --likelihood gaussian"
        )
    if dynamic and likelihood != "bernoulli":
        raise CommandError("--dynamic-binarization needs the bernoulli likelihood")


def _default_out(dataset_name: str, arch: str, latent: int) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", dataset_name).strip("-") or "model"
    return default_library_root() / f"{stem[:60]}-{arch}-z{latent}{SUFFIX}"


def _format_metrics(metrics: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
    )


# --- commands --------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from .device import describe_device, pick_device
    from .model import VAE
    from .train import evaluate, train

    device = pick_device(args.device)  # fails now, not after loading the data
    if args.out is not None and args.out.suffix != SUFFIX:
        raise CommandError(f"--out must end with {SUFFIX}, got {args.out}")
    dataset = _load_data(args.dataset, args.data, args.data_dir, args.quiet)
    likelihood = dataset.likelihood if args.likelihood == "auto" else args.likelihood
    _check_data_fits(dataset, likelihood, args.dynamic_binarization)
    out = args.out or _default_out(dataset.name, args.arch, args.latent_dim)
    name = out.name[: -len(SUFFIX)]
    try:
        safe = safe_model_name(name)
    except ValueError as error:
        raise CommandError(f"the file name of --out is not a valid model name: {error}") from None
    if safe != name:
        raise CommandError(f"the file name of --out is not a valid model name: {name!r}")
    if out.exists() and not args.force:
        raise CommandError(f"{out} already exists; pass --force to replace it")

    model_config = ModelConfig(
        input_dim=dataset.input_dim,
        image_shape=dataset.image_shape,
        latent_dim=args.latent_dim,
        architecture=args.arch,
        hidden=args.hidden,
        likelihood=likelihood,
        gaussian_sigma=args.gaussian_sigma if likelihood == "gaussian" else None,
    )
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        final_lr_fraction=args.final_lr_fraction,
        beta=args.beta,
        warmup_epochs=args.warmup_epochs,
        dynamic_binarization=args.dynamic_binarization,
        seed=args.seed,
        device=str(device),
        snapshot_latents=False,  # replay snapshots are for the app; the CLI saves weights only
    )
    torch.manual_seed(args.seed)  # the initial weights too, not only the batches
    model = VAE(model_config)
    steps_per_epoch = math.ceil(dataset.n_train / train_config.batch_size)
    total_steps = steps_per_epoch * train_config.epochs
    progress = ProgressLine(sys.stderr, total_steps, enabled=not args.quiet)
    if not args.quiet:
        sys.stderr.write(
            f"training on {dataset.name} ({dataset.n_train:,} train / {dataset.n_test:,} test, "
            f"D={dataset.input_dim}) with {describe_device(device)}: "
            f"{sum(p.numel() for p in model.parameters()):,} parameters\n"
        )
    state = {"polls": 0, "epoch": 1}

    with _StopOnInterrupt() as interrupt:

        def should_stop() -> bool:  # vae.train polls this once before every batch
            state["polls"] += 1
            progress.step(state["polls"] - 1, state["epoch"], train_config.epochs)
            return interrupt.requested

        def on_epoch(report) -> None:
            state["epoch"] = report.epoch + 1
            done = min(total_steps, report.epoch * steps_per_epoch)
            progress.epoch_done(report.epoch, report.epochs, done, report.train, report.test)

        try:
            result = train(model, dataset.x_train, dataset.x_test, train_config,
                           on_epoch=on_epoch, should_stop=should_stop)  # fmt: skip
        finally:
            progress.close()

    interrupted = result.stopped_early
    last_test = next((h for h in reversed(result.history) if "test_elbo" in h), None)
    if last_test is not None:
        test_metrics = {k[5:]: v for k, v in last_test.items() if k.startswith("test_")}
    else:  # stopped inside the first epoch: measure what there is
        x_test = torch.as_tensor(dataset.x_test).to(model.device)
        if train_config.dynamic_binarization:
            x_test = _binarize_once(x_test, train_config.seed).to(model.device)
        test_metrics = evaluate(model, x_test)
    metadata = make_metadata(
        name=name,
        dataset=dataset.name,
        preprocessing=dict(dataset.preprocessing),
        train_config=train_config.to_dict(),
        history=[dict(h) for h in result.history],
        test_metrics=test_metrics,
        device=describe_device(torch.device(result.device)),
        interrupted=interrupted,
        epochs_trained=len(result.history),
        train_seconds=round(result.seconds, 3),
        **({"data_file": args.data.name} if args.data is not None else {}),
    )
    from .checkpoint import save_checkpoint

    save_checkpoint(out, model.cpu(), metadata)
    status = f"interrupted after {len(result.history)} epoch(s); saved" if interrupted else "saved"
    print(f"{status} {out}")
    print(f"test: {_format_metrics(test_metrics)}  ({result.seconds:.1f} s on {result.device})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from .device import pick_device
    from .latent import encode_dataset, knn_accuracy
    from .losses import iwae_log_likelihood
    from .train import evaluate

    started = time.perf_counter()
    device = pick_device(args.device)
    model, metadata = load_checkpoint(args.checkpoint, device=device)
    dataset_name = args.dataset
    if dataset_name is None and args.data is None:
        dataset_name = metadata.get("dataset")
        if dataset_name not in DATASET_CHOICES or metadata.get("data_file"):
            raise CommandError(
                f"the checkpoint was trained on {dataset_name!r}, which is not built in; "
                "pass --data FILE or --dataset NAME"
            )
    dataset = _load_data(dataset_name, args.data, args.data_dir, args.quiet)
    if dataset.input_dim != model.config.input_dim:
        raise CommandError(
            f"{dataset.name} has {dataset.input_dim} features per example but the model "
            f"expects {model.config.input_dim}"
        )
    train_config = metadata.get("train_config") or {}
    dynamic = bool(train_config.get("dynamic_binarization", False))
    seed = int(train_config.get("seed", 0)) if isinstance(train_config.get("seed"), int) else 0
    x_np = dataset.x_test if args.split == "test" else dataset.x_train
    x = torch.as_tensor(np.asarray(x_np, dtype=np.float32))
    if dynamic:
        x = _binarize_once(x, seed)  # the protocol the model was trained and tested under
    elif model.config.likelihood == "bernoulli" and (x.min() < 0 or x.max() > 1):
        raise CommandError(
            f"{dataset.name} has values outside [0, 1]; this model's bernoulli likelihood needs [0, 1]"
        )
    x = x.to(device)

    torch.manual_seed(args.seed)
    metrics: dict[str, Any] = dict(evaluate(model, x))
    iwae = None
    if args.iw > 0:
        chunks = []
        batch = max(1, min(len(x), 2**20 // args.iw))  # a progress update every ~1 M samples
        for start in range(0, len(x), batch):
            chunks.append(iwae_log_likelihood(model, x[start : start + batch], k=args.iw))
            if not args.quiet:
                done = min(len(x), start + batch)
                sys.stderr.write(f"\rIWAE k={args.iw}: {done:,}/{len(x):,} examples")
                sys.stderr.flush()
        if not args.quiet:
            sys.stderr.write("\n")
        iwae = float(torch.cat(chunks).mean())
    knn = None
    if (
        dataset.label_kind == "class"
        and dataset.y_train is not None
        and dataset.y_test is not None
        and len(dataset.x_train) > args.knn
    ):
        # Posterior means of the grey-level inputs, as the app's latent map shows them.
        train_mu, _ = encode_dataset(model, dataset.x_train)
        test_mu, _ = encode_dataset(model, dataset.x_test)
        knn = knn_accuracy(train_mu, dataset.y_train, test_mu, dataset.y_test, k=args.knn)

    report = {
        "checkpoint": str(args.checkpoint),
        "dataset": dataset.name,
        "split": args.split,
        "examples": len(x),
        "dynamic_binarization": dynamic,
        "elbo": metrics["elbo"],
        "recon": metrics["recon"],
        "kl": metrics["kl"],
        "iwae": iwae,
        "iwae_k": args.iw if iwae is not None else None,
        "knn_accuracy": knn,
        "knn_k": args.knn if knn is not None else None,
        "device": str(device),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{dataset.name} {args.split} set, {len(x):,} examples"
          + (" (binarised once, seed + 1)" if dynamic else ""))  # fmt: skip
    print(f"ELBO            {metrics['elbo']:10.3f} nats")
    print(f"reconstruction  {metrics['recon']:10.3f} nats  (-E_q log p(x|z))")
    print(f"KL              {metrics['kl']:10.3f} nats")
    if iwae is not None:
        print(f"log p(x) IWAE   {iwae:10.3f} nats  (k={args.iw}; a tighter bound than the ELBO)")
    if knn is not None:
        print(f"{args.knn}-NN accuracy  {knn:10.3f}  (test means classified from train means)")
    return 0


def _summary(metadata: dict[str, Any]) -> list[str]:
    config = metadata.get("model_config", {})
    train = metadata.get("train_config") or {}
    history = metadata.get("history") or []
    lines = [
        f"name:        {metadata.get('name', '?')}",
        f"dataset:     {metadata.get('dataset', '?')}",
        f"created:     {metadata.get('created', '?')} (vae {metadata.get('vae_version', '?')})",
        f"device:      {metadata.get('device', '?')}",
        "model:       {architecture} hidden {hidden}, latent {latent_dim}, {likelihood} "
        "likelihood, input {input_dim}".format(
            **{
                k: config.get(k, "?")
                for k in ("architecture", "hidden", "latent_dim", "likelihood", "input_dim")
            }
        ),  # fmt: skip
    ]
    if train:
        keys = (
            "epochs",
            "batch_size",
            "lr",
            "lr_schedule",
            "beta",
            "warmup_epochs",
            "dynamic_binarization",
            "seed",
        )
        lines.append("training:    " + ", ".join(f"{k} {train[k]}" for k in keys if k in train))
    epochs = f"{len(history)} epoch(s) trained"
    if metadata.get("interrupted"):
        epochs += " (interrupted)"
    lines.append(f"history:     {epochs}")
    metrics = metadata.get("test_metrics") or {}
    if metrics:
        lines.append(f"test:        {_format_metrics(metrics)}")
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    metadata = read_metadata(args.checkpoint)
    if args.json:
        print(json.dumps(metadata, indent=2))
    else:
        print(f"checkpoint:  {args.checkpoint}")
        print("\n".join(_summary(metadata)))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    library = ModelLibrary(args.root if args.root is not None else default_library_root())
    entries = library.list()
    if not entries:
        print(f"no models in {library.root}")
    for entry in entries:
        if entry.ok:
            meta = entry.metadata
            elbo = (meta.get("test_metrics") or {}).get("elbo")
            score = f"test ELBO {elbo:.2f}" if isinstance(elbo, (int, float)) else ""
            dataset, created = (str(meta.get(k) or "?") for k in ("dataset", "created"))
            print(f"{entry.name:30s} {dataset:14s} {created:26s} {score}".rstrip())
        else:
            print(f"{entry.name:30s} BROKEN: {entry.error}")
    return 0


# --- entry point ------------------------------------------------------------------------------


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failure, 2 usage, 130 aborted)."""
    args = build_parser().parse_args(argv)  # exits 2 with one `error:` line on bad usage
    handler: Callable[[argparse.Namespace], int] = args.handler
    from .train import TrainingDiverged

    try:
        return handler(args)
    except KeyboardInterrupt:
        sys.stderr.write("\nerror: interrupted\n")
        return 130
    except (CommandError, CheckpointError, ConfigError, TrainingDiverged, ValueError, OSError) as e:
        # DataError and pick_device's errors are ValueErrors.
        sys.stderr.write(f"error: {_one_line(e)}\n")
        return 1
    except Exception as error:  # a bug: still one line, with the details on request
        if os.environ.get("VAE_DEBUG"):
            raise
        sys.stderr.write(
            f"error: unexpected {type(error).__name__}: {_one_line(error)} "
            "(set VAE_DEBUG=1 for the traceback)\n"
        )
        return 1


__all__ = ["build_parser", "main"]

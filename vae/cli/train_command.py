"""`python -m vae train`: check the request, train with a progress bar, save a checkpoint."""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from pathlib import Path

from ..checkpoint import SUFFIX
from ..config import EVAL_BINARIZATIONS, ModelConfig, TrainConfig
from ..library import default_library_root, safe_model_name
from .progress import ProgressLine, StopOnInterrupt
from .shared import CommandError, format_metrics, load_data


def run_train(args: argparse.Namespace) -> int:
    import torch

    from ..checkpoint import save_checkpoint
    from ..device import describe_device, pick_device
    from ..metadata import training_metadata
    from ..model import VAE

    device = pick_device(args.device)  # fails now, not after loading the data
    if args.out is not None and args.out.suffix != SUFFIX:
        raise CommandError(f"--out must end with {SUFFIX}, got {args.out}")
    dataset = load_data(args.dataset, args.data, args.data_dir, args.quiet)
    likelihood = dataset.likelihood if args.likelihood == "auto" else args.likelihood
    _check_data_fits(dataset, likelihood, args.dynamic_binarization)
    out = args.out or _default_out(dataset.name, args.arch, args.latent_dim)
    name = _model_name(out)
    if out.exists() and not args.force:
        raise CommandError(f"{out} already exists; pass --force to replace it")
    model_config, train_config = _configs(args, dataset, likelihood, str(device))
    _check_out_writable(out, _checkpoint_size_bound(model_config))

    torch.manual_seed(args.seed)  # the initial weights too, not only the batches
    model = VAE(model_config)
    if not args.quiet:
        sys.stderr.write(
            f"training on {dataset.name} ({dataset.n_train:,} train / {dataset.n_test:,} test, "
            f"D={dataset.input_dim}) with {describe_device(device)}: "
            f"{sum(p.numel() for p in model.parameters()):,} parameters\n"
        )
    result = _train_with_progress(model, dataset, train_config, quiet=args.quiet)

    interrupted = result.stopped_early
    test_metrics = _final_test_metrics(model, dataset, train_config)
    metadata = training_metadata(
        name,
        dataset,
        model,
        train_config,
        result,
        dataset_file=args.data.name if args.data is not None else None,
        test_metrics=test_metrics,
        interrupted=interrupted,
        epochs_trained=len(result.history),
        train_seconds=round(result.seconds, 3),
    )
    # Create-only without --force, decided at the rename: another run may have saved here
    # while this one trained.
    save_checkpoint(out, model.cpu(), metadata, overwrite=args.force)
    status = f"interrupted after {len(result.history)} epoch(s); saved" if interrupted else "saved"
    print(f"{status} {out}")
    print(f"test (robust ELBO, as saved): {format_metrics(test_metrics)}  "
          f"({result.seconds:.1f} s on {result.device}; the per-epoch lines use one z)")  # fmt: skip
    return 0


def _check_data_fits(dataset, likelihood: str, dynamic: bool) -> None:
    low = min(float(dataset.x_train.min()), float(dataset.x_test.min()))
    high = max(float(dataset.x_train.max()), float(dataset.x_test.max()))
    in_unit_range = low >= 0.0 and high <= 1.0
    if likelihood == "bernoulli" and not in_unit_range:
        raise CommandError(
            f"the bernoulli likelihood needs data in [0, 1], but {dataset.name} spans "
            f"[{low:.3g}, {high:.3g}]; use --likelihood gaussian"
        )
    if dynamic is True and likelihood != "bernoulli":  # None: the config's default
        raise CommandError("--dynamic-binarization needs the bernoulli likelihood")


def _checkpoint_size_bound(config: ModelConfig) -> int:
    """Bytes the checkpoint will take at most: float32 weights plus a header with a history."""
    return 4 * config.parameter_count() + 16 * 2**20


def _check_out_writable(out: Path, needed: int) -> None:
    """Fail before training, not after it: a file can be created where --out will go (in its
    folder, or the nearest existing folder above it, which is left as it was) and the disk has
    room for the checkpoint."""
    import shutil
    import tempfile

    folder = out.parent.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not folder.is_dir():
            raise NotADirectoryError(20, "not a folder", str(folder))
        with tempfile.TemporaryFile(dir=folder):
            pass
        free = shutil.disk_usage(folder).free
    except OSError as error:
        raise CommandError(f"cannot write into {out.parent}: {error.strerror or error}") from None
    if free < needed:
        raise CommandError(
            f"{folder} has {free / 2**20:,.0f} MB free; the checkpoint needs up to "
            f"{needed / 2**20:,.0f} MB: free some space or choose another --out"
        )


def _default_out(dataset_name: str, arch: str, latent: int) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", dataset_name).strip("-") or "model"
    return default_library_root() / f"{stem[:60]}-{arch}-z{latent}{SUFFIX}"


def _model_name(out: Path) -> str:
    """The model name the file of --out gives (the app lists it under that name)."""
    name = out.name[: -len(SUFFIX)]
    try:
        safe = safe_model_name(name)
    except ValueError as error:
        raise CommandError(f"the file name of --out is not a valid model name: {error}") from None
    if safe != name:
        raise CommandError(f"the file name of --out is not a valid model name: {name!r}")
    return name


def _configs(
    args: argparse.Namespace, dataset, likelihood: str, device: str
) -> tuple[ModelConfig, TrainConfig]:
    model_config = ModelConfig(
        input_dim=dataset.input_dim,
        image_shape=dataset.image_shape,
        latent_dim=args.latent_dim,
        architecture=args.arch,
        hidden=args.hidden,
        likelihood=likelihood,
        gaussian_sigma=args.gaussian_sigma if likelihood == "gaussian" else None,
        max_posterior_sigma=args.max_posterior_sigma,
    )
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        final_lr_fraction=args.final_lr_fraction,
        beta=args.beta,
        warmup_epochs=args.warmup_epochs,
        seed=args.seed,
        device=device,
        snapshot_latents=False,  # replay snapshots are for the app; the CLI saves weights only
    )
    if args.dynamic_binarization is not None:  # else TrainConfig's default
        train_config = dataclasses.replace(
            train_config, dynamic_binarization=args.dynamic_binarization
        )
    return model_config, train_config.for_model(model_config)


def _train_with_progress(model, dataset, train_config: TrainConfig, quiet: bool):
    """vae.train.train with a progress bar on stderr; the first Ctrl-C stops after the batch."""
    from ..train import train

    steps_per_epoch = math.ceil(dataset.n_train / train_config.batch_size)
    total_steps = steps_per_epoch * train_config.epochs
    progress = ProgressLine(sys.stderr, total_steps, enabled=not quiet)
    state = {"polls": 0, "epoch": 1}

    with StopOnInterrupt() as interrupt:

        def should_stop() -> bool:  # vae.train polls this once before every batch
            state["polls"] += 1
            progress.step(state["polls"] - 1, state["epoch"], train_config.epochs)
            return interrupt.requested

        def on_epoch(report) -> None:
            state["epoch"] = report.epoch + 1
            done = min(total_steps, report.epoch * steps_per_epoch)
            progress.epoch_done(report.epoch, report.epochs, done, report.train, report.test)

        try:
            return train(model, dataset.x_train, dataset.x_test, train_config,
                         on_epoch=on_epoch, should_stop=should_stop)  # fmt: skip
        finally:
            progress.close()


def _final_test_metrics(model, dataset, train_config: TrainConfig) -> dict:
    """The robust test metrics saved with the model (vae.train.evaluate): ELBO over
    EVAL_Z_SAMPLES draws of z per test example, and over EVAL_BINARIZATIONS binarisations of
    the test set for a dynamically binarised model. The per-epoch figures use one z only."""
    import torch

    from ..train import evaluate

    x_test = torch.as_tensor(dataset.x_test).to(model.device)
    binarizations = EVAL_BINARIZATIONS if train_config.dynamic_binarization else 0
    return evaluate(model, x_test, binarizations=binarizations, seed=train_config.seed)

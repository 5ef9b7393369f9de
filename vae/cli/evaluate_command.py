"""`python -m vae evaluate`: ELBO, IWAE log-likelihood and k-NN accuracy of a saved model."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

from ..checkpoint import load_checkpoint
from ..data import DATASET_NAMES
from ..scoring import not_a_likelihood, trained_binarized
from .shared import CommandError, load_data


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from ..device import pick_device
    from ..train import binarize_test_set, evaluate

    started = time.perf_counter()
    device = pick_device(args.device)
    model, metadata = load_checkpoint(args.checkpoint, device=device)
    dataset = load_data(_dataset_name(args, metadata), args.data, args.data_dir, args.quiet)
    if dataset.input_dim != model.config.input_dim:
        raise CommandError(
            f"{dataset.name} has {dataset.input_dim} features per example but the model "
            f"expects {model.config.input_dim}"
        )
    train_config = metadata.get("train_config") or {}
    dynamic = trained_binarized(metadata)
    seed = int(train_config.get("seed", 0)) if isinstance(train_config.get("seed"), int) else 0
    x = _scored_examples(model, dataset, args.split).to(device)  # (N, D)
    # A dynamically binarised model is scored on binary images: fresh draws for the ELBO, and
    # the one fixed draw of its training run's test protocol for the (costlier) IWAE bound.
    binarizations = args.binarizations if dynamic else 0
    x_iwae = binarize_test_set(x, seed) if dynamic else x

    metrics = evaluate(model, x, z_samples=args.z_samples, binarizations=binarizations,
                       seed=args.seed)  # fmt: skip
    torch.manual_seed(args.seed)
    iwae = _iwae_bound(model, x_iwae, args.iw, args.quiet) if args.iw > 0 else None
    knn = _knn_accuracy(model, dataset, args.knn)
    bound = model.config.max_posterior_sigma
    # On the same examples as the IWAE bound (a dynamically binarised model: its fixed draw).
    exact = _exact_log_likelihood(model, x_iwae, args.quiet) if args.exact else None
    note = not_a_likelihood(metadata, x)
    results = {"ELBO": metrics["elbo"], "reconstruction": metrics["recon"], "KL": metrics["kl"],
               "IWAE log p(x)": iwae, "exact log p(x)": exact[0] if exact else None,
               "k-NN accuracy": knn}  # fmt: skip
    # A NaN or infinite result is a failure, not a number: the report is still printed (JSON
    # has no NaN: such a value is null there), and the exit code says it.
    failed = [name for name, value in results.items() if value is not None
              and not math.isfinite(value)]  # fmt: skip

    if args.json:
        report = {
            "checkpoint": str(args.checkpoint),
            "dataset": dataset.name,
            "split": args.split,
            "examples": len(x),
            "dynamic_binarization": dynamic,
            "is_log_likelihood": note is None,
            "note": note,
            "elbo": metrics["elbo"],
            "elbo_sem": metrics["elbo_sem"],
            "recon": metrics["recon"],
            "kl": metrics["kl"],
            "z_samples": args.z_samples,
            "binarizations": binarizations,
            "max_sigma": metrics["max_sigma"],
            "max_posterior_sigma": bound,
            "iwae": iwae,
            "iwae_k": args.iw if iwae is not None else None,
            "exact_log_likelihood": exact[0] if exact else None,
            "exact_log_likelihood_error": exact[1] if exact else None,
            "knn_accuracy": knn,
            "knn_k": args.knn if knn is not None else None,
            "device": str(device),
            "seconds": round(time.perf_counter() - started, 3),
        }
        print(json.dumps(_finite_or_null(report), allow_nan=False))
        return _exit_code(failed)
    draws = f"{binarizations} binarisations x " if binarizations else ""
    print(f"{dataset.name} {args.split} set, {len(x):,} examples"
          + (" (a dynamically binarised model: scored on binary draws)" if dynamic else ""))  # fmt: skip
    print(f"ELBO            {metrics['elbo']:10.3f} nats  ± {metrics['elbo_sem']:.3f} (s.e.), "
          f"mean over {draws}{args.z_samples} samples of z per example")  # fmt: skip
    print(f"reconstruction  {metrics['recon']:10.3f} nats  (-E_q log p(x|z))")
    print(f"KL              {metrics['kl']:10.3f} nats  (closed form)")
    limit = f"the model's bound is {bound:g}" if bound is not None else "this model has no bound"
    print(f"largest sigma   {metrics['max_sigma']:10.3g}       (of every input scored; {limit})")
    if iwae is not None:
        fixed = ", one fixed binarisation (seed + 1)" if dynamic else ""
        print(
            f"log p(x) IWAE   {iwae:10.3f} nats  (k={args.iw}{fixed}; a tighter bound than the ELBO)"
        )
    if exact is not None:
        print(
            f"log p(x) exact  {exact[0]:10.3f} nats  (quadrature, mean error bound {exact[1]:.4f})"
        )
    if note is not None:
        print(f"note: {note}")
    if knn is not None:
        print(f"{args.knn}-NN accuracy  {knn:10.3f}  (test means classified from train means)")
    return _exit_code(failed)


def _exit_code(failed: list[str]) -> int:
    """0, or 1 with one `error:` line naming the results that are not finite numbers."""
    if not failed:
        return 0
    sys.stderr.write(
        f"error: the {', '.join(failed)} of this model on these data is not a finite number "
        "(the model gives NaN or infinite values)\n"
    )
    return 1


def _finite_or_null(report: dict[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in report.items()}  # fmt: skip


def _dataset_name(args: argparse.Namespace, metadata: dict[str, Any]) -> str | None:
    """--dataset, or the built-in dataset the checkpoint was trained on when neither flag is given."""
    if args.dataset is not None or args.data is not None:
        return args.dataset
    from ..metadata import builtin_dataset, dataset_file

    name = builtin_dataset(metadata, DATASET_NAMES)
    if name is None:
        name = dataset_file(metadata) or metadata.get("dataset")
        raise CommandError(
            f"the checkpoint was trained on {name!r}, which is not built in; "
            "pass --data FILE or --dataset NAME"
        )
    return name


def _scored_examples(model, dataset, split: str):
    """The split as a float tensor (N, D): grey levels, binarised later for a binarised model."""
    import numpy as np
    import torch

    x_np = dataset.x_test if split == "test" else dataset.x_train
    x = torch.as_tensor(np.asarray(x_np, dtype=np.float32))
    if model.config.likelihood == "bernoulli" and (x.min() < 0 or x.max() > 1):
        raise CommandError(
            f"{dataset.name} has values outside [0, 1]; this model's bernoulli likelihood needs [0, 1]"
        )
    return x


def _iwae_bound(model, x, k: int, quiet: bool) -> float:
    """Mean IWAE bound on log p(x) with k samples, in chunks so that progress can be shown."""
    import torch

    from ..losses import iwae_log_likelihood

    chunks = []
    batch = max(1, min(len(x), 2**20 // k))  # a progress update every ~1 M samples
    for start in range(0, len(x), batch):
        chunks.append(iwae_log_likelihood(model, x[start : start + batch], k=k))
        if not quiet:
            done = min(len(x), start + batch)
            sys.stderr.write(f"\rIWAE k={k}: {done:,}/{len(x):,} examples")
            sys.stderr.flush()
    if not quiet:
        sys.stderr.write("\n")
    return float(torch.cat(chunks).mean())


def _exact_log_likelihood(model, x, quiet: bool) -> tuple[float, float]:
    """Mean log p(x) by quadrature over the latent plane, and the mean of its error estimates."""
    from ..inference import exact_log_likelihood

    if model.config.latent_dim != 2:
        raise CommandError(
            f"--exact integrates over a 2-D latent plane; this model has "
            f"{model.config.latent_dim} latent dimensions"
        )

    def progress(done: int, total: int) -> None:
        if not quiet:
            sys.stderr.write(f"\rexact log p(x): {done:,}/{total:,} examples")
            sys.stderr.flush()

    result = exact_log_likelihood(model, x, progress=progress)
    if not quiet:
        sys.stderr.write("\n")
    return result.mean, float(result.error.mean())


def _knn_accuracy(model, dataset, k: int) -> float | None:
    """k-NN accuracy of test means from train means; None without class labels."""
    if (
        dataset.label_kind != "class"
        or dataset.y_train is None
        or dataset.y_test is None
        or len(dataset.x_train) <= k
    ):
        return None
    from ..latent import encode_dataset, knn_accuracy

    # Posterior means of the grey-level inputs, as the app's latent map shows them.
    train_mu, _ = encode_dataset(model, dataset.x_train)
    test_mu, _ = encode_dataset(model, dataset.x_test)
    return knn_accuracy(train_mu, dataset.y_train, test_mu, dataset.y_test, k=k)

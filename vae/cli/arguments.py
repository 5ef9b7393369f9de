"""The command line's grammar: every command, flag, default and help text, and the flag types.

A usage error is one line `error: ...` and exit code 2. The dataset names come from vae.data's
registry (DATASET_NAMES), the training defaults from TrainConfig: each fact has one owner.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path
from typing import NoReturn, get_args

from ..config import EVAL_BINARIZATIONS, EVAL_Z_SAMPLES, LrSchedule, ModelConfig, TrainConfig
from ..data import DATASET_NAMES

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
_TRAIN_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
_MODEL_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ModelConfig)}


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


# --- flag types: each turns bad text into a one-line message ------------------------------


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


def _bound_or_none(text: str) -> float | None:
    """--max-posterior-sigma: a positive number, or "none" for an unbounded sigma."""
    if text.strip().lower() == "none":
        return None
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or none, got {text!r}")
    return value


# --- flags that more than one command takes ---------------------------------------------------


def _add_data_source(
    command: argparse.ArgumentParser, required: bool, dataset_help: str, data_help: str
) -> None:
    """--dataset or --data (never both), and where the IDX files of the built-ins are."""
    source = command.add_mutually_exclusive_group(required=required)
    source.add_argument("--dataset", choices=DATASET_NAMES, help=dataset_help)
    source.add_argument("--data", type=Path, metavar="FILE", help=data_help)
    command.add_argument("--data-dir", type=Path, metavar="DIR",
                         help="folder with the MNIST / Fashion-MNIST IDX files")  # fmt: skip


def _add_device(command: argparse.ArgumentParser) -> None:
    command.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                         help="auto picks CUDA, then MPS, then the CPU")  # fmt: skip


# --- the commands -------------------------------------------------------------------------------


def _add_train(train: argparse.ArgumentParser) -> None:
    _add_data_source(train, required=True, dataset_help="a built-in dataset",
                     data_help="your own data: .npz, .npy, .csv, or a .zip / folder of images")  # fmt: skip
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
    _add_device(train)
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
    train.add_argument("--max-posterior-sigma", type=_bound_or_none, metavar="SIGMA|none",
                       default=_MODEL_DEFAULTS["max_posterior_sigma"],
                       help="upper bound on the posterior sigma; none trains an unbounded one")  # fmt: skip
    train.add_argument("--dynamic-binarization", action=argparse.BooleanOptionalAction,
                       default=None, help="train on a fresh binary draw x ~ Bernoulli(pixels) "
                       "each time an image is used, and score the test set over such draws (the "
                       "literature's protocol; without it a bernoulli likelihood of grey levels "
                       "is not a likelihood); default: "
                       f"{'on' if d['dynamic_binarization'] else 'off'} for the bernoulli likelihood")  # fmt: skip
    train.add_argument("--out", type=Path, metavar="PATH.safetensors",
                       help="where to save (default: the model library, $VAE_EXPLORER_MODELS or ./models)")  # fmt: skip
    train.add_argument("--force", action="store_true", help="replace --out if it exists")
    train.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_evaluate(evaluate: argparse.ArgumentParser) -> None:
    evaluate.add_argument("--checkpoint", type=Path, required=True, metavar="PATH",
                          help="a .safetensors file written by vae-explorer")  # fmt: skip
    _add_data_source(evaluate, required=False, data_help="your own data file",
                     dataset_help="default: the dataset the checkpoint was trained on")  # fmt: skip
    evaluate.add_argument("--iw", type=_non_negative_int, default=1000, metavar="K",
                          help="importance samples for the IWAE bound on log p(x); 0 skips it")  # fmt: skip
    evaluate.add_argument("--z-samples", type=_positive_int, default=EVAL_Z_SAMPLES, metavar="S",
                          help="samples of z per example for the ELBO")  # fmt: skip
    evaluate.add_argument("--binarizations", type=_positive_int, default=EVAL_BINARIZATIONS,
                          metavar="B", help="binary draws of each example for the ELBO of a "
                          "dynamically binarised model")  # fmt: skip
    evaluate.add_argument("--knn", type=_positive_int, default=5, metavar="K",
                          help="neighbours for the k-NN accuracy of latent means")  # fmt: skip
    evaluate.add_argument("--split", choices=("test", "train"), default="test",
                          help="which part of the data to score")  # fmt: skip
    evaluate.add_argument("--seed", type=_non_negative_int, default=0,
                          help="seeds the samples of z and the binarisations")  # fmt: skip
    evaluate.add_argument("--exact", action="store_true",
                          help="also log p(x) by quadrature over the 2-D latent plane")  # fmt: skip
    _add_device(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _add_info(info: argparse.ArgumentParser) -> None:
    info.add_argument("--checkpoint", type=Path, required=True, metavar="PATH")
    info.add_argument("--json", action="store_true", help="print the metadata as JSON")


def _add_list(listing: argparse.ArgumentParser) -> None:
    listing.add_argument("--root", type=Path, default=None,
                         help="library folder (default: $VAE_EXPLORER_MODELS or ./models)")  # fmt: skip


def _add_import(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--encoder",
        type=Path,
        required=True,
        metavar="ENC.onnx",
        help="the encoder graph: x -> outputs as the card lists them",
    )
    command.add_argument(
        "--decoder",
        type=Path,
        required=True,
        metavar="DEC.onnx",
        help="the decoder graph: z (batch, 2) -> the decoded image",
    )
    command.add_argument(
        "--card",
        type=Path,
        required=True,
        metavar="CARD.json",
        help="the conventions of the graphs (docs/BRING_YOUR_OWN.md)",
    )
    command.add_argument("--name", required=True, help="the model's name in the library")
    command.add_argument(
        "--root",
        type=Path,
        default=None,
        help="library folder (default: $VAE_EXPLORER_MODELS or ./models)",
    )
    command.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="where the card's dataset is (as for train)"
    )
    command.add_argument("--force", action="store_true", help="replace a model of that name")


def _add_export(command: argparse.ArgumentParser) -> None:
    command.add_argument("--checkpoint", type=Path, required=True, metavar="PATH")
    command.add_argument("--onnx", type=Path, required=True, metavar="DIR",
                         help="folder for encoder.onnx, decoder.onnx and card.json")  # fmt: skip


# name -> (one-line help in `python -m vae --help`, what adds the command's flags)
_COMMANDS = {
    "train": ("train a VAE and save a checkpoint", _add_train),
    "evaluate": ("ELBO, IWAE log-likelihood and k-NN accuracy", _add_evaluate),
    "info": ("what a checkpoint holds (reads the header only)", _add_info),
    "list": ("the models in the library", _add_list),
    "import": ("add a VAE exported as ONNX (encoder, decoder, card) to the library", _add_import),
    "export": ("write a model as encoder.onnx, decoder.onnx and card.json", _add_export),
}


def build_parser() -> argparse.ArgumentParser:
    """The parser of `python -m vae`; `args.command` names the command that was asked for."""
    parser = _Parser(
        prog="python -m vae",
        description="Train, evaluate and inspect variational autoencoders with a 2-D latent space.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for name, (summary, add_flags) in _COMMANDS.items():
        add_flags(commands.add_parser(name, help=summary, formatter_class=_DefaultsFormatter))
    return parser

"""The Dataset record, the one error type, and the shared split/scaling helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..strict_files import UnsafeFileError, check_text, read_regular

Likelihood = Literal["bernoulli", "gaussian"]
LabelKind = Literal["class", "continuous"]

# User data at or below this many rows is too small to train and evaluate anything.
MIN_ROWS = 10
# A column of integers with more distinct values than this is treated as continuous, not classes:
# nobody colours a scatter plot with 500 legend entries.
MAX_CLASSES = 100
MAX_CLASS_NAME_CHARS = 200  # one class name (a legend entry)
# The fraction of the rows held out for testing when a source gives no split of its own.
TEST_FRACTION = 0.15
SPLIT_SEED = 0


class DataError(ValueError):
    """Every bad-data problem: the message is one sentence a user can act on."""


def read_regular_file(path: Path, cap: int, label: str) -> bytes:
    """The bytes of `path` if it is a regular file of at most `cap` bytes, else DataError.

    vae.strict_files' reader: opened without blocking and checked on the open file (fstat), so
    a FIFO cannot hang the reader, a device such as /dev/zero (size 0, endless) is refused, and
    a file swapped after a check is still the file checked. A data folder may hold links to
    the files (the person who runs the CLI chose it), so links to regular files are followed.
    """
    try:
        data, _ = read_regular(path, cap, follow_links=True, what="data file")
    except UnsafeFileError as error:
        raise DataError(f"cannot read {label}: {error}") from None
    return data


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays field by field is ambiguous
class Dataset:
    """A train/test split ready for the model: rows are examples, flattened to (N, D)."""

    name: str
    x_train: np.ndarray  # (N, D) float32
    x_test: np.ndarray  # (M, D) float32
    y_train: np.ndarray | None  # (N,) int64 class ids, or float32 for continuous labels
    y_test: np.ndarray | None  # (M,)
    image_shape: tuple[int, int] | None  # (H, W) with H * W == D when the rows are images
    likelihood: Likelihood  # suggested p(x|z): bernoulli for values in [0, 1]
    label_kind: LabelKind | None
    class_names: tuple[str, ...] | None  # class_names[y] names class id y
    preprocessing: dict  # JSON-able; see `to_original_units`
    description: str  # one line for the UI

    def __post_init__(self) -> None:
        # Checked once here so that every consumer can rely on the shapes below.
        for split in ("x_train", "x_test"):
            x = getattr(self, split)
            if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype != np.float32:
                raise DataError(f"{split} must be a 2-D float32 array")
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise DataError(
                f"train and test have different widths ({self.x_train.shape[1]} and "
                f"{self.x_test.shape[1]} columns)"
            )
        if (self.y_train is None) != (self.y_test is None):
            raise DataError("labels must be given for both train and test, or for neither")
        for y, x, split in (
            (self.y_train, self.x_train, "train"),
            (self.y_test, self.x_test, "test"),
        ):
            if y is not None and (y.ndim != 1 or len(y) != len(x)):
                raise DataError(f"{split} has {len(x)} rows but {len(y)} labels")
        if self.image_shape is not None and (
            self.image_shape[0] * self.image_shape[1] != self.x_train.shape[1]
        ):
            raise DataError(
                f"image shape {self.image_shape} does not match {self.input_dim} columns"
            )

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])


def split_indices(
    n: int,
    labels: np.ndarray | None = None,
    test_fraction: float = TEST_FRACTION,
    seed: int = SPLIT_SEED,
    test_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train_idx, test_idx); stratified by class when every class can be split.

    Stratifying keeps rare classes in both halves; it needs at least two examples per class and
    at least one test slot per class, otherwise a plain seeded permutation is used.
    """
    n_test = test_size if test_size is not None else max(1, int(round(n * test_fraction)))
    if not 0 < n_test < n:
        raise DataError(f"cannot split {n} rows into train and test")
    if labels is not None:
        _, counts = np.unique(labels, return_counts=True)
        if counts.min() >= 2 and len(counts) <= n_test and len(counts) <= n - n_test:
            from sklearn.model_selection import train_test_split

            train_idx, test_idx = train_test_split(
                np.arange(n), test_size=n_test, random_state=seed, stratify=labels
            )
            return np.sort(train_idx), np.sort(test_idx)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Per-column z-scores with statistics from the training rows only (no test leakage)."""
    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    std = np.where(std > 1e-12, std, 1.0)  # a constant column stays constant (0), not NaN
    scaled = [((x - mean) / std).astype(np.float32) for x in (x_train, x_test)]
    info = {"kind": "standardize", "mean": mean.tolist(), "std": std.tolist()}
    return scaled[0], scaled[1], info


def to_original_units(x: np.ndarray, preprocessing: dict) -> np.ndarray:
    """Undo the recorded scaling: model space (…, D) -> the units the data came in.

    preprocessing kinds: {"kind": "identity"}, {"kind": "divide", "by": c} (x_model = x / c),
    {"kind": "standardize", "mean": [D], "std": [D]} (x_model = (x - mean) / std).
    """
    kind = preprocessing.get("kind")
    x = np.asarray(x, dtype=np.float64)
    if kind == "identity":
        return x
    if kind == "divide":
        return x * float(preprocessing["by"])
    if kind == "standardize":
        return x * np.asarray(preprocessing["std"]) + np.asarray(preprocessing["mean"])
    raise DataError(f"unknown preprocessing kind {kind!r}")


def encode_labels(y: np.ndarray, what: str) -> tuple[np.ndarray, LabelKind, tuple[str, ...] | None]:
    """Raw labels -> (ids or floats, kind, class names).

    Text, booleans and integers with at most MAX_CLASSES distinct values become class ids
    0..K-1 (names sorted, numerically where possible); anything else numeric is continuous.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{what} must be one label per row (1-D), got shape {y.shape}")
    if y.dtype.kind in "OUS":
        if y.dtype.kind == "O" and any(
            v is None or (isinstance(v, float) and np.isnan(v)) for v in y
        ):
            raise DataError(f"{what} has missing values")
        text = y.astype(str)
        distinct = set(text.tolist())
        if len(distinct) > MAX_CLASSES:  # text cannot be a continuous label instead
            raise DataError(
                f"{what} have {len(distinct):,} different text values; at most {MAX_CLASSES} "
                f"classes are allowed (numbers would be taken as a continuous label)"
            )
        for name in distinct:  # shown in legends, tables and downloads: valid Unicode only
            check_text(name, what, MAX_CLASS_NAME_CHARS, DataError)
        names = sorted(distinct, key=_natural_key)
        return _ids(text, names), "class", tuple(names)
    if y.dtype.kind not in "biuf":
        raise DataError(f"{what} must be numbers or text, got dtype {y.dtype}")
    values = y.astype(np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"{what} contains NaN or infinite values")
    uniques = np.unique(values)
    if np.all(uniques == np.round(uniques)) and len(uniques) <= MAX_CLASSES:
        ids = np.searchsorted(uniques, values).astype(np.int64)
        names = tuple(str(int(u)) for u in uniques)
        return ids, "class", names
    return values.astype(np.float32), "continuous", None


def _ids(text: np.ndarray, names: list[str]) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup[t] for t in text.tolist()], dtype=np.int64)


def _natural_key(name: str) -> tuple:
    # "2" before "10"; numbers before words.
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)

"""The user's own data: .npz, .npy, .csv, or a .zip / folder of PNG/JPEG images -> Dataset.

Everything is validated before it is used (size, shape, dtype, NaN/inf, row and column limits)
and every problem is a DataError naming the array, column or file at fault.

Scaling, decided on all rows and recorded in Dataset.preprocessing:
  values already in [0, 1]                         -> kept as they are, Bernoulli likelihood;
  images (3-D arrays, image files) or uint8 in [0, 255] -> divided by 255, Bernoulli;
  anything else                -> standardised per column (train statistics), Gaussian.
Labels: text, or integers with at most 100 distinct values, are classes; other numbers are
continuous. In a CSV the label column is the first of label, labels, target, class, y.
Split: the file's own train/test split if it has one (x_train/x_test in an .npz, train/ and test/
folders of images), otherwise 85 % / 15 %, seeded and stratified by class where possible.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from .core import (
    MIN_ROWS,
    DataError,
    Dataset,
    encode_labels,
    read_regular_file,
    split_indices,
    standardize,
)
from .images import decode_images, folder_members, zip_members
from .tabular import read_csv

MAX_UPLOAD_BYTES = 200 * 2**20
MAX_ROWS = 200_000
MAX_FEATURES = 4096  # e.g. 64x64 images
MAX_CELLS = 50_000_000  # rows x features: 200 MB as float32, about what one browser tab can hold
USER_DATA_SUFFIXES = ("npz", "npy", "csv", "zip")  # for a file picker; folders work too
X_KEYS = ("x", "X", "data", "images", "features")
Y_KEYS = ("y", "labels", "label", "targets", "target")


def load_user_data(source: str | Path | bytes, filename: str | None = None) -> Dataset:
    """Read user data from bytes (an upload; `filename` gives the type) or a file / folder path.

    Limits: MAX_UPLOAD_BYTES per file, MAX_ROWS rows, MAX_FEATURES columns (pixels per image),
    MAX_CELLS values in all, at least MIN_ROWS rows; zips also images.MAX_ZIP_MEMBERS entries
    and images.MAX_IMAGES_TOTAL_BYTES uncompressed. .npz keys: x_train/x_test (+ y_train/y_test),
    or x / X / data / images / features (or a single array) with y / labels / label / target(s),
    and an optional image_shape = (H, W).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        if filename is None:
            raise DataError("a filename is needed to tell the type of uploaded bytes")
        data: bytes | None = bytes(source)
        folder = None
    else:
        path = Path(source).expanduser()
        filename = filename or path.name
        if path.is_dir():
            data, folder = None, path
        elif not os.path.lexists(path):
            raise DataError(f"{path} does not exist")
        else:
            data, folder = read_regular_file(path, MAX_UPLOAD_BYTES, filename), None
    name = Path(filename).stem or "data"
    try:
        if folder is not None:
            return _from_images(
                decode_images(folder_members(folder), MAX_FEATURES, filename, MAX_CELLS),
                name,
                filename,
            )
        assert data is not None
        if len(data) > MAX_UPLOAD_BYTES:
            raise DataError(f"{filename} is larger than {MAX_UPLOAD_BYTES // 2**20} MB")
        if not data:
            raise DataError(f"{filename} is empty")
        suffix = Path(filename).suffix.lower()
        if suffix == ".npz":
            return _from_npz(data, name, filename)
        if suffix == ".npy":
            return _from_arrays(name, filename, _read_npy(data, filename), None)
        if suffix == ".csv":
            x, labels = read_csv(data, filename, MAX_ROWS, MAX_FEATURES, MAX_CELLS)
            return _from_arrays(name, filename, x, labels)
        if suffix == ".zip":
            members = zip_members(data)
            return _from_images(
                decode_images(members, MAX_FEATURES, filename, MAX_CELLS), name, filename
            )
        raise DataError(
            f"{filename}: unsupported file type {suffix or '(none)'!r}; use .npz, .npy, .csv, "
            f"or a .zip / folder of PNG or JPEG images"
        )
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        # Parser failures from numpy/pandas/zipfile: still one clear error type for the caller.
        raise DataError(f"could not read {filename}: {err}") from err


# --- .npy / .npz -------------------------------------------------------------------------------


def _read_npy(data: bytes, what: str) -> np.ndarray:
    """Parse an .npy after checking its header: no pickles, no absurd declared shapes."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise DataError(f"{what}: unsupported .npy format version {version}")
    except DataError:
        raise
    except ValueError as err:
        raise DataError(f"{what} is not a valid .npy array ({err})") from err
    if dtype.hasobject:
        raise DataError(
            f"{what} holds Python objects (a pickled array); save plain numbers, e.g. "
            f"np.save(path, x.astype(np.float32))"
        )
    count = int(np.prod(shape, dtype=np.int64))
    if count > MAX_CELLS:
        raise DataError(f"{what} has shape {shape}: more than {MAX_CELLS:,} values")
    if count * dtype.itemsize > len(data) - stream.tell():
        raise DataError(f"{what} is truncated: its header says shape {shape} of {dtype}")
    return np.load(io.BytesIO(data), allow_pickle=False)


def _from_npz(data: bytes, name: str, filename: str) -> Dataset:
    # One array holds at most MAX_CELLS values of 8 bytes, plus its .npy header.
    members = zip_members(data, max_member_bytes=MAX_CELLS * 8 + 2**16)
    arrays = {}
    for path, read in members:
        key = path.as_posix().removesuffix(".npy")
        arrays[key] = _read_npy(read(), f"array '{key}' in {filename}")
    if not arrays:
        raise DataError(f"{filename} holds no arrays")
    image_shape = _npz_image_shape(arrays.pop("image_shape", None), filename)
    if "x_train" in arrays or "x_test" in arrays:
        missing = [k for k in ("x_train", "x_test") if k not in arrays]
        if missing:
            raise DataError(
                f"{filename} has {' and '.join(sorted({'x_train', 'x_test'} - set(missing)))} but no {missing[0]}"
            )
        if ("y_train" in arrays) != ("y_test" in arrays):
            raise DataError(f"{filename}: give both y_train and y_test, or neither")
        x = (arrays["x_train"], arrays["x_test"])
        y = (arrays["y_train"], arrays["y_test"]) if "y_train" in arrays else None
        return _from_arrays(name, filename, x, y, image_shape)
    x_key = next((k for k in X_KEYS if k in arrays), None)
    y_key = next((k for k in Y_KEYS if k in arrays), None)
    if x_key is None:
        others = [k for k in arrays if k != y_key]
        if len(others) != 1:
            raise DataError(
                f"{filename} has no array named {', '.join(X_KEYS)} or x_train/x_test "
                f"(found: {', '.join(sorted(arrays))})"
            )
        x_key = others[0]
    return _from_arrays(
        name, filename, arrays[x_key], None if y_key is None else arrays[y_key], image_shape
    )


def _npz_image_shape(value: np.ndarray | None, filename: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if value.shape != (2,) or value.dtype.kind not in "iu" or value.min() < 1:
        raise DataError(f"{filename}: image_shape must be two positive integers (H, W)")
    return int(value[0]), int(value[1])


# --- images ------------------------------------------------------------------------------------


def _from_images(image_set, name: str, filename: str) -> Dataset:
    images, labels, splits = image_set.images, image_set.labels, image_set.splits
    y = None if labels is None else np.array(labels)
    if splits is None:
        return _from_arrays(name, filename, images, y)
    is_train = np.array([s == "train" for s in splits])
    x = (images[is_train], images[~is_train])
    ys = None if y is None else (y[is_train], y[~is_train])
    return _from_arrays(name, filename, x, ys)


# --- shared validation, scaling and split ------------------------------------------------------


def _from_arrays(
    name: str,
    filename: str,
    x: np.ndarray | tuple[np.ndarray, np.ndarray],
    y: np.ndarray | tuple[np.ndarray, np.ndarray] | None,
    image_shape: tuple[int, int] | None = None,
) -> Dataset:
    """Validate, scale and split. `x` is one array, or (train, test) when the file has a split."""
    given_split = isinstance(x, tuple)
    parts = list(x) if given_split else [x]
    label_parts = (list(y) if given_split else [y]) if y is not None else None
    what = ["x_train", "x_test"] if given_split else ["the data"]
    flat, shapes, uint8 = [], set(), True
    for part, label in zip(parts, what, strict=True):
        matrix, shape = _as_matrix(part, f"{label} in {filename}")
        flat.append(matrix)
        shapes.add(shape)
        uint8 &= part.dtype == np.uint8
    if len(shapes) > 1 or len({m.shape[1] for m in flat}) > 1:
        raise DataError(f"{filename}: x_train and x_test have different shapes")
    image_shape = image_shape or shapes.pop()
    width = flat[0].shape[1]
    if image_shape is not None and image_shape[0] * image_shape[1] != width:
        raise DataError(f"{filename}: image_shape {image_shape} does not match {width} columns")
    counts = [len(m) for m in flat]
    if sum(counts) < MIN_ROWS:
        raise DataError(f"{filename} has {sum(counts)} rows; at least {MIN_ROWS} are needed")
    if given_split and min(counts) == 0:
        raise DataError(f"{filename}: x_train and x_test must both have rows")

    labels = kind = names = None
    if label_parts is not None:
        for lab, m, key in zip(
            label_parts, flat, ["y_train", "y_test"] if given_split else ["labels"], strict=True
        ):
            if np.ndim(lab) != 1 or len(lab) != len(m):
                raise DataError(
                    f"{filename}: {key} has shape {np.shape(lab)} but there are {len(m)} rows"
                )
            if lab.dtype.hasobject and not all(isinstance(v, (str, int, float)) for v in lab):
                raise DataError(f"{filename}: {key} must be numbers or text")
        labels, kind, names = encode_labels(
            np.concatenate(label_parts), f"the labels in {filename}"
        )

    x_all = np.concatenate(flat) if given_split else flat[0]
    if given_split:
        train_idx, test_idx = np.arange(counts[0]), np.arange(counts[0], sum(counts))
    else:
        train_idx, test_idx = split_indices(len(x_all), labels if kind == "class" else None)
    x_train, x_test = x_all[train_idx], x_all[test_idx]

    low, high = float(x_all.min()), float(x_all.max())
    if low >= 0.0 and high <= 1.0:
        preprocessing, likelihood, scaling = {"kind": "identity"}, "bernoulli", "values in [0, 1]"
    elif low >= 0.0 and high <= 255.0 and (image_shape is not None or uint8):
        x_train, x_test = x_train / np.float32(255), x_test / np.float32(255)
        preprocessing, likelihood, scaling = (
            {"kind": "divide", "by": 255.0},
            "bernoulli",
            "pixels / 255",
        )
    else:
        x_train, x_test, preprocessing = standardize(x_train, x_test)
        likelihood, scaling = "gaussian", "standardised"

    n_label = (
        ""
        if kind is None
        else (f", {len(names)} classes" if kind == "class" else ", continuous labels")
    )
    split_note = "the file's own split" if given_split else "85/15 split"
    return Dataset(
        name=name,
        x_train=np.ascontiguousarray(x_train, dtype=np.float32),
        x_test=np.ascontiguousarray(x_test, dtype=np.float32),
        y_train=None if labels is None else labels[train_idx],
        y_test=None if labels is None else labels[test_idx],
        image_shape=image_shape,
        likelihood=likelihood,
        label_kind=kind,
        class_names=names,
        preprocessing=preprocessing,
        description=(
            f"{filename}: {len(train_idx):,} train / {len(test_idx):,} test ({split_note}), "
            f"{width:,} features{'' if image_shape is None else f' ({image_shape[0]}x{image_shape[1]} images)'}, "
            f"{scaling}{n_label}"
        ),
    )


def _as_matrix(array: np.ndarray, what: str) -> tuple[np.ndarray, tuple[int, int] | None]:
    """(N, D) float32 and the (H, W) image shape for 3-D input; every check on the way."""
    if array.dtype.kind not in "biuf":
        raise DataError(f"{what} must be numeric, got dtype {array.dtype}")
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]  # (N, H, W, 1) grayscale
    if array.ndim == 4:
        raise DataError(
            f"{what} has shape {array.shape}: colour images are not supported, convert them to "
            f"grayscale (N, H, W)"
        )
    if array.ndim not in (2, 3):
        raise DataError(
            f"{what} has shape {array.shape}; expected (rows, features) or (N, H, W) images"
        )
    rows = array.shape[0]
    width = int(np.prod(array.shape[1:]))
    if rows > MAX_ROWS:
        raise DataError(f"{what} has {rows:,} rows; at most {MAX_ROWS:,} are allowed")
    if width < 1:
        raise DataError(f"{what} has no columns")
    if width > MAX_FEATURES:
        raise DataError(
            f"{what} has {width:,} features per row; at most {MAX_FEATURES:,} are allowed"
        )
    if rows * width > MAX_CELLS:
        raise DataError(f"{what} has {rows * width:,} values; at most {MAX_CELLS:,} are allowed")
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported just below
        matrix = array.reshape(rows, width).astype(np.float32)
    finite = np.isfinite(matrix)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise DataError(
            f"{what} has {int((~finite).sum()):,} NaN or infinite values (or values too large for "
            f"float32), the first in row {bad[0]}, column {bad[1]}"
        )
    image_shape = (int(array.shape[1]), int(array.shape[2])) if array.ndim == 3 else None
    return matrix, image_shape

"""The named datasets: scikit-learn digits, MNIST, Fashion-MNIST and two 3-D toy manifolds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import download as dl
from .core import DataError, Dataset, split_indices, standardize
from .idx import read_idx_pair

DATASET_NAMES = ("digits", "mnist", "fashion-mnist", "swiss-roll", "s-curve")

DATA_ENV = "VAE_EXPLORER_DATA"  # a folder of IDX files, or of mnist/ and fashion-mnist/ folders
# Folders where an operating-system package installs the files (Debian: dataset-fashion-mnist).
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "mnist": (),
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}
# torchvision keeps the same files under <root>/<folder>/raw/; accept its layout as it is.
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}

IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
INSTALL_HINT = {"mnist": "", "fashion-mnist": ", or `apt-get install dataset-fashion-mnist`"}

DIGITS_TEST_SIZE = 300  # of 1,797: 1,497 train / 300 test
TOY_SAMPLES = 5000
TOY_NOISE = 0.05
SEED = 0


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    progress: dl.Progress | None = None,
    download: bool = True,
) -> Dataset:
    """Load one of DATASET_NAMES as a Dataset (pixels scaled to [0, 1], toy data standardised).

    MNIST and Fashion-MNIST are read from the first folder that has the IDX files (.gz or not):
      1. `data_dir`, else the folder in $VAE_EXPLORER_DATA - the folder itself, its <name>/
         sub-folder, or torchvision's <MNIST|FashionMNIST>/raw/ layout;
      2. the system folder (/usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist);
      3. the cache, $XDG_CACHE_HOME or ~/.cache, /vae-explorer/<name>/;
    and otherwise downloaded into the cache (md5-checked; `progress(done_bytes, total_bytes)`).
    Local files are not checksummed: re-compressed copies are fine, the IDX headers are checked.
    With download=False nothing is fetched: a DataError says how to get the files instead.

    A folder with only the t10k (test) files is used as it is: its 10,000 images are split
    8,500 train / 1,500 test (stratified, seed 0) and the description says so. To train on the
    standard 60,000 / 10,000 split, point `data_dir` at a folder with all four files, or at none.
    """
    key = name.strip().lower().replace("_", "-")
    if key == "digits":
        return _digits()
    if key in ("mnist", "fashion-mnist"):
        return _mnist_family(key, data_dir, progress, download)
    if key in ("swiss-roll", "s-curve"):
        return _toy_manifold(key)
    raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASET_NAMES)}")


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # (1797, 64); raw counts are 0..16
    y = bunch.target.astype(np.int64)
    train, test = split_indices(len(x), y, test_size=DIGITS_TEST_SIZE, seed=SEED)
    return Dataset(
        name="digits",
        x_train=x[train], x_test=x[test], y_train=y[train], y_test=y[test],
        image_shape=(8, 8),
        likelihood="bernoulli",
        label_kind="class",
        class_names=tuple(str(d) for d in range(10)),
        preprocessing={"kind": "divide", "by": 16.0},
        description=(
            f"scikit-learn digits: 8x8 handwritten digits (UCI), {len(train):,} train / "
            f"{len(test):,} test, pixels / 16"
        ),
    )  # fmt: skip


def _toy_manifold(name: str) -> Dataset:
    from sklearn.datasets import make_s_curve, make_swiss_roll

    make = make_swiss_roll if name == "swiss-roll" else make_s_curve
    points, t = make(n_samples=TOY_SAMPLES, noise=TOY_NOISE, random_state=SEED)  # (N, 3), (N,)
    train, test = split_indices(len(points), seed=SEED)
    x_train, x_test, info = standardize(points[train], points[test])
    return Dataset(
        name=name,
        x_train=x_train, x_test=x_test,
        y_train=t[train].astype(np.float32), y_test=t[test].astype(np.float32),
        image_shape=None,
        likelihood="gaussian",
        label_kind="continuous",  # t: the position along the manifold, to colour the latents
        class_names=None,
        preprocessing=info,
        description=(
            f"scikit-learn {name} in 3-D: {TOY_SAMPLES:,} points, noise {TOY_NOISE}, "
            f"standardised; colour = position t along the manifold"
        ),
    )  # fmt: skip


def local_idx_folder(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The folder load_dataset reads MNIST / Fashion-MNIST from without downloading, or None.

    The order of load_dataset: `data_dir` or $VAE_EXPLORER_DATA, the system folder, then the
    cache (used only when it has both splits: a partial cache is completed by a download).
    """
    for folder in _local_folders(name, data_dir):
        if "test" in _idx_files(folder):
            return folder
    cache = dl.cache_dir(name)
    return cache if len(_idx_files(cache)) == 2 else None


def missing_files_help(name: str) -> str:
    """How to put the IDX files of MNIST / Fashion-MNIST on this computer, as one paragraph."""
    apt = (
        "install Debian's package (`sudo apt-get install dataset-fashion-mnist`), or "
        if name == "fashion-mnist"
        else ""
    )
    return (
        f"To get {TITLES[name]}: {apt}copy its IDX files (`t10k-images-idx3-ubyte.gz` and "
        f"`t10k-labels-idx1-ubyte.gz`; add the two `train-` files to train on it) into a folder "
        f"and set `{DATA_ENV}` to that folder before starting the app, or into "
        f"`{dl.cache_dir(name)}` with all four files, or run "
        f"`python -m vae train --dataset {name} --epochs 1` once on a computer with internet "
        f"access (it downloads them into that cache folder)."
    )


def _mnist_family(
    name: str, data_dir: str | Path | None, progress: dl.Progress | None, download: bool
) -> Dataset:
    found = local_idx_folder(name, data_dir)
    if found is not None:
        return _idx_dataset(name, found, _idx_files(found))
    searched = [*_local_folders(name, data_dir), dl.cache_dir(name)]
    where = ", ".join(map(str, searched))
    if not download:
        raise DataError(f"{TITLES[name]} is not on this computer (looked in {where}). "
                        + missing_files_help(name))  # fmt: skip
    cache = dl.cache_dir(name)
    # A complete cache was used above; otherwise fetch what it lacks.
    try:
        dl.download(name, cache, progress)
    except DataError as err:
        raise DataError(
            f"{TITLES[name]} was not found (looked in {where}) and the download failed: {err}. "
            f"Put the IDX files (train-*/t10k-*-ubyte.gz) in a folder and pass --data-dir or set "
            f"{DATA_ENV}{INSTALL_HINT[name]}"
        ) from err
    return _idx_dataset(name, cache, _idx_files(cache))


def _local_folders(name: str, data_dir: str | Path | None) -> list[Path]:
    folders = []
    explicit = data_dir if data_dir is not None else os.environ.get(DATA_ENV) or None
    if explicit is not None:
        root = Path(explicit).expanduser()
        if not root.is_dir():
            origin = "data_dir" if data_dir is not None else f"${DATA_ENV}"
            raise DataError(f"the data folder {root} ({origin}) does not exist")
        folders += [root, root / name, root / TORCHVISION_FOLDERS[name] / "raw"]
    return folders + list(SYSTEM_DIRS[name])


def _idx_files(folder: Path) -> dict[str, tuple[Path, Path]]:
    """{"train"|"test": (images, labels)} for each split whose two files are both in `folder`."""
    found = {}
    for split, stems in IDX_STEMS.items():
        paths = [_find(folder, stem) for stem in stems]
        if all(paths):
            found[split] = (paths[0], paths[1])
    return found


def _find(folder: Path, stem: str) -> Path | None:
    # Canonical names, gzipped or not, and the "train-images.idx3-ubyte" spelling some copies use.
    dotted = stem.replace("-idx", ".idx")
    for candidate in (f"{stem}.gz", stem, f"{dotted}.gz", dotted):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _idx_dataset(name: str, folder: Path, files: dict[str, tuple[Path, Path]]) -> Dataset:
    title = TITLES[name]
    test_images, test_labels = read_idx_pair(*files["test"])
    if "train" in files:
        train_images, train_labels = read_idx_pair(*files["train"])
        if train_images.shape[1:] != test_images.shape[1:]:
            raise DataError(f"train and test images in {folder} have different sizes")
        note = f"{len(train_images):,} train / {len(test_images):,} test"
    else:
        # Only the official test set is here (e.g. a small offline copy): split it.
        # 15 % held out, stratified: 8,500 / 1,500 for the 10,000 MNIST test images.
        train, test = split_indices(len(test_images), test_labels, seed=SEED)
        train_images, train_labels = test_images[train], test_labels[train]
        test_images, test_labels = test_images[test], test_labels[test]
        note = (
            f"official test set only, split {len(train):,} train / {len(test):,} test "
            f"(the training files were not found)"
        )
    class_names = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(d) for d in range(10))
    return Dataset(
        name=name,
        x_train=_pixels(train_images), x_test=_pixels(test_images),
        y_train=train_labels, y_test=test_labels,
        image_shape=(int(test_images.shape[1]), int(test_images.shape[2])),
        likelihood="bernoulli",
        label_kind="class",
        class_names=class_names,
        preprocessing={"kind": "divide", "by": 255.0},
        description=f"{title} from {folder}: {note}, pixels / 255",
    )  # fmt: skip


def _pixels(images: np.ndarray) -> np.ndarray:
    """(N, H, W) uint8 -> (N, H*W) float32 in [0, 1]."""
    x = images.reshape(len(images), -1).astype(np.float32)
    x /= 255.0  # in place: a 60,000-image copy is 188 MB
    return x

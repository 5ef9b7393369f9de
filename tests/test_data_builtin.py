"""Named datasets on real data: digits, MNIST (shared test set), Fashion-MNIST, toy manifolds,
the strict IDX reader, and where MNIST-family files are looked for."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from vae.data import (
    DATASET_NAMES,
    FASHION_CLASSES,
    DataError,
    Dataset,
    builtin,
    load_dataset,
    to_original_units,
)
from vae.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, read_idx_pair, write_idx

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# From /work/shared/data/README.md: the MNIST test set as published.
MNIST_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TEST_IMAGES_RAW_MD5 = "2646ac647ad5339dbf082846283269ea"  # of the decompressed IDX file

needs_shared_mnist = pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"the shared MNIST test set is not at {SHARED_MNIST}",
)


@pytest.fixture(autouse=True)
def isolated_locations(tmp_path, monkeypatch):
    """No real cache, no system folder, no $VAE_EXPLORER_DATA unless a test sets them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VAE_EXPLORER_DATA", raising=False)
    monkeypatch.setitem(builtin.SYSTEM_DIRS, "fashion-mnist", (tmp_path / "no-system-dir",))


def write_idx_set(folder: Path, n_train: int | None, n_test: int, fill: int, gz: bool = True):
    """A small valid MNIST-shaped IDX set whose pixels all equal `fill` (to tell sets apart)."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    splits = {"t10k": n_test} if n_train is None else {"train": n_train, "t10k": n_test}
    for prefix, n in splits.items():
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte{suffix}", np.full((n, 28, 28), fill, np.uint8)
        )
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n, dtype=np.uint8) % 10)


# --- digits and toy manifolds ------------------------------------------------------------------


def test_digits_is_sklearn_digits_scaled_and_split_stratified():
    data = load_dataset("digits")
    assert isinstance(data, Dataset) and data.name == "digits"
    assert data.x_train.shape == (1497, 64) and data.x_test.shape == (300, 64)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert data.image_shape == (8, 8) and data.likelihood == "bernoulli"
    assert data.label_kind == "class" and data.class_names == tuple("0123456789")
    # Every original example appears exactly once across the split, scaled by 1/16.
    reference = load_digits()
    both = np.concatenate([data.x_train, data.x_test]) * 16
    assert sorted(map(bytes, both.astype(np.uint8))) == sorted(
        map(bytes, reference.data.astype(np.uint8))
    )
    np.testing.assert_array_equal(
        np.bincount(np.concatenate([data.y_train, data.y_test])), np.bincount(reference.target)
    )
    # Stratified: each digit has ~30 test examples (10 %-ish of ~180).
    assert np.bincount(data.y_test, minlength=10).min() >= 28
    np.testing.assert_allclose(to_original_units(data.x_test[:3], data.preprocessing).max(), 16)


def test_named_datasets_are_deterministic():
    first, second = load_dataset("digits"), load_dataset("digits")
    np.testing.assert_array_equal(first.x_test, second.x_test)
    np.testing.assert_array_equal(first.y_train, second.y_train)
    a, b = load_dataset("s-curve"), load_dataset("S_Curve")
    np.testing.assert_array_equal(a.x_train, b.x_train)


@pytest.mark.parametrize("name", ["swiss-roll", "s-curve"])
def test_toy_manifolds_are_standardised_3d_with_continuous_position(name):
    data = load_dataset(name)
    assert data.x_train.shape == (4250, 3) and data.x_test.shape == (750, 3)
    assert data.likelihood == "gaussian" and data.label_kind == "continuous"
    assert data.image_shape is None and data.class_names is None
    assert data.y_train.dtype == np.float32 and np.ptp(data.y_train) > 1.0
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1.0, atol=1e-4)
    # The recorded statistics bring the points back to scikit-learn's coordinates.
    from sklearn.datasets import make_s_curve, make_swiss_roll

    make = make_swiss_roll if name == "swiss-roll" else make_s_curve
    points, t = make(n_samples=5000, noise=0.05, random_state=0)
    restored = to_original_units(np.concatenate([data.x_train, data.x_test]), data.preprocessing)
    order = np.argsort(np.concatenate([data.y_train, data.y_test]))
    np.testing.assert_allclose(restored[order], points[np.argsort(t)], atol=1e-4)


def test_unknown_dataset_name_lists_the_choices():
    with pytest.raises(DataError, match="unknown dataset 'cifar'.*digits, mnist"):
        load_dataset("cifar")
    assert DATASET_NAMES == ("digits", "mnist", "fashion-mnist", "swiss-roll", "s-curve")


# --- the IDX reader on the real MNIST test set -------------------------------------------------


@needs_shared_mnist
def test_idx_reader_on_real_mnist_test_set():
    images, labels = read_idx_pair(
        SHARED_MNIST / "t10k-images-idx3-ubyte.gz", SHARED_MNIST / "t10k-labels-idx1-ubyte.gz"
    )
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == MNIST_TEST_LABEL_COUNTS
    assert images.mean() / 255 == pytest.approx(0.1325, abs=5e-5)
    # Header + pixels rebuilt from what was read == the published file, byte for byte.
    rebuilt = struct.pack(">4i", IMAGES_MAGIC, 10000, 28, 28) + images.tobytes()
    assert hashlib.md5(rebuilt).hexdigest() == MNIST_TEST_IMAGES_RAW_MD5


@needs_shared_mnist
def test_mnist_with_only_the_test_files_splits_them():
    data = load_dataset("mnist", data_dir=SHARED_MNIST)
    assert data.x_train.shape == (8500, 784) and data.x_test.shape == (1500, 784)
    assert data.image_shape == (28, 28) and data.likelihood == "bernoulli"
    assert "test set only" in data.description and str(SHARED_MNIST) in data.description
    labels = np.concatenate([data.y_train, data.y_test])
    assert np.bincount(labels).tolist() == MNIST_TEST_LABEL_COUNTS
    pixels = np.concatenate([data.x_train, data.x_test])
    assert pixels.min() == 0.0 and pixels.max() == 1.0
    assert pixels.mean() == pytest.approx(0.1325, abs=5e-5)
    # Stratified: the test part keeps each digit's share within one example.
    expected = np.array(MNIST_TEST_LABEL_COUNTS) * 0.15
    assert np.abs(np.bincount(data.y_test) - expected).max() <= 1


def test_fashion_mnist_from_the_debian_package(monkeypatch):
    if not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    monkeypatch.setitem(builtin.SYSTEM_DIRS, "fashion-mnist", (DEBIAN_FASHION,))
    data = load_dataset("fashion-mnist")
    assert data.x_train.shape == (60000, 784) and data.x_test.shape == (10000, 784)
    assert data.class_names == FASHION_CLASSES and data.class_names[9] == "Ankle boot"
    # Fashion-MNIST is balanced: 6,000 / 1,000 of each class.
    assert np.bincount(data.y_train).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert data.x_train.mean() == pytest.approx(0.2860, abs=5e-4)  # the published mean
    assert str(DEBIAN_FASHION) in data.description


# --- corrupt IDX files -------------------------------------------------------------------------


def test_idx_reader_round_trip(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    for name in ("a-idx3-ubyte.gz", "a-idx3-ubyte"):
        write_idx(tmp_path / name, images)
        np.testing.assert_array_equal(read_idx(tmp_path / name, IMAGES_MAGIC), images)


def _gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (struct.pack(">4i", LABELS_MAGIC, 2, 2, 2) + bytes(8), "magic number 2049, expected 2051"),
        (struct.pack(">4i", IMAGES_MAGIC, 3, 2, 2) + bytes(11), "truncated"),
        (struct.pack(">4i", IMAGES_MAGIC, 3, 2, 2) + bytes(13), "longer than its header says"),
        (struct.pack(">4i", IMAGES_MAGIC, 0, 28, 28), "invalid header"),
        (struct.pack(">4i", IMAGES_MAGIC, 10, 99999, 28), "invalid header"),
        (b"\x00\x00\x08", "too short"),
    ],
)
def test_idx_reader_rejects_bad_headers_and_sizes(tmp_path, payload, message):
    path = _gz(tmp_path / "x-images-idx3-ubyte.gz", payload)
    with pytest.raises(DataError, match=message):
        read_idx(path, IMAGES_MAGIC)


def test_idx_reader_rejects_broken_gzip(tmp_path):
    good = gzip.compress(struct.pack(">4i", IMAGES_MAGIC, 100, 28, 28) + bytes(78400))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "plain.gz").write_bytes(b"this is not gzip at all")
    for name in ("cut.gz", "plain.gz"):
        with pytest.raises(DataError, match="corrupt or unreadable"):
            read_idx(tmp_path / name, IMAGES_MAGIC)


def test_idx_pair_must_agree(tmp_path):
    write_idx(tmp_path / "i.gz", np.zeros((5, 2, 2), np.uint8))
    write_idx(tmp_path / "l.gz", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="5 images but l.gz has 4 labels"):
        read_idx_pair(tmp_path / "i.gz", tmp_path / "l.gz")
    write_idx(tmp_path / "l.gz", np.array([0, 1, 2, 3, 12], np.uint8))
    with pytest.raises(DataError, match="label 12"):
        read_idx_pair(tmp_path / "i.gz", tmp_path / "l.gz")


def test_corrupt_local_file_names_the_file(tmp_path):
    write_idx_set(tmp_path / "d", None, 20, fill=1)
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz is corrupt"):
        load_dataset("mnist", data_dir=tmp_path / "d")


# --- where the files are looked for ------------------------------------------------------------


def test_search_order_data_dir_then_system_then_cache(tmp_path, monkeypatch):
    explicit, system = tmp_path / "explicit", tmp_path / "system"
    cache = tmp_path / "cache" / "vae-explorer" / "fashion-mnist"
    write_idx_set(explicit, 30, 20, fill=10)
    write_idx_set(system, 30, 20, fill=20)
    write_idx_set(cache, 30, 20, fill=30)
    monkeypatch.setitem(builtin.SYSTEM_DIRS, "fashion-mnist", (system,))

    def fill(**kwargs) -> int:
        return round(float(load_dataset("fashion-mnist", **kwargs).x_test[0, 0]) * 255)

    assert fill(data_dir=explicit) == 10
    monkeypatch.setenv("VAE_EXPLORER_DATA", str(explicit))
    assert fill() == 10
    monkeypatch.delenv("VAE_EXPLORER_DATA")
    assert fill() == 20
    monkeypatch.setitem(builtin.SYSTEM_DIRS, "fashion-mnist", ())
    assert fill() == 30  # from the cache, without any download (the mirror is a closed port)


def test_data_dir_layouts_and_uncompressed_files(tmp_path):
    write_idx_set(tmp_path / "root" / "mnist", 30, 20, fill=1)
    assert load_dataset("mnist", data_dir=tmp_path / "root").n_train == 30
    write_idx_set(tmp_path / "tv" / "MNIST" / "raw", 40, 20, fill=1, gz=False)
    data = load_dataset("mnist", data_dir=tmp_path / "tv")
    assert (data.n_train, data.n_test) == (40, 20)
    assert "40 train / 20 test" in data.description


def test_explicit_folder_must_exist(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", data_dir=tmp_path / "typo")
    monkeypatch.setenv("VAE_EXPLORER_DATA", str(tmp_path / "typo"))
    with pytest.raises(DataError, match=r"\$VAE_EXPLORER_DATA.*does not exist"):
        load_dataset("mnist")


def test_missing_everywhere_says_what_to_do(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as caught:
        load_dataset("fashion-mnist", data_dir=tmp_path / "empty")
    message = str(caught.value)
    assert "was not found" in message and str(tmp_path / "empty") in message
    assert "download failed" in message and "--data-dir" in message
    assert "VAE_EXPLORER_DATA" in message and "apt-get install dataset-fashion-mnist" in message
    assert not (tmp_path / "cache" / "vae-explorer" / "fashion-mnist").exists()


def test_dataset_checks_its_own_shapes():
    x = np.zeros((4, 6), np.float32)
    kwargs = dict(
        name="t", x_train=x, x_test=x, y_train=None, y_test=None, image_shape=(2, 3),
        likelihood="bernoulli", label_kind=None, class_names=None, preprocessing={},
        description="",
    )  # fmt: skip
    Dataset(**kwargs)
    with pytest.raises(DataError, match="does not match"):
        Dataset(**{**kwargs, "image_shape": (2, 2)})
    with pytest.raises(DataError, match="different widths"):
        Dataset(**{**kwargs, "x_test": np.zeros((4, 5), np.float32)})
    with pytest.raises(DataError, match="4 rows but 3 labels"):
        Dataset(**{**kwargs, "y_train": np.zeros(3), "y_test": np.zeros(4)})
    with pytest.raises(DataError, match="float32"):
        Dataset(**{**kwargs, "x_train": x.astype(np.float64)})

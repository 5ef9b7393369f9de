"""A strict reader for IDX files (the MNIST format), gzip-compressed or raw.

Format (LeCun et al.): a big-endian int32 magic number 0x00000800 + ndim (2051 for a 3-D image
array, 2049 for a 1-D label array), then ndim big-endian int32 sizes, then the uint8 data.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from .core import DataError

IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions (N, H, W)
LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension (N,)
# Bounds that stop a corrupt header from asking for an absurd allocation.
MAX_IDX_ITEMS = 10_000_000
MAX_IDX_SIDE = 4096


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX file (gzip if the name ends in .gz) and check its header against `magic`."""
    ndim = magic - 0x800
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as stream:
            header = stream.read(4 + 4 * ndim)
            if len(header) < 4 + 4 * ndim:
                raise DataError(f"{path.name} is too short to be an IDX file")
            found, *shape = struct.unpack(f">{1 + ndim}i", header)
            if found != magic:
                raise DataError(
                    f"{path.name} is not an IDX {'image' if ndim == 3 else 'label'} file "
                    f"(magic number {found}, expected {magic})"
                )
            _check_shape(path, shape)
            expected = int(np.prod(shape))
            # Read one byte more than declared so trailing junk is noticed, never slurped.
            data = stream.read(expected + 1)
    except (OSError, EOFError, zlib.error) as err:
        # gzip.BadGzipFile is an OSError; a truncated stream raises EOFError.
        raise DataError(f"{path.name} is corrupt or unreadable ({err})") from err
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(f"{path.name} is {problem}: header says {shape}, {expected} bytes")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def read_idx_pair(
    images_path: Path, labels_path: Path, n_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) uint8 images and (N,) int64 labels, checked against each other."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path.name} has {len(images)} images but {labels_path.name} has "
            f"{len(labels)} labels"
        )
    if labels.max(initial=0) >= n_classes:
        raise DataError(f"{labels_path.name} has label {labels.max()}, expected 0..{n_classes - 1}")
    return images, labels.astype(np.int64)


def _check_shape(path: Path, shape: list[int]) -> None:
    if any(s <= 0 for s in shape) or shape[0] > MAX_IDX_ITEMS:
        raise DataError(f"{path.name} has an invalid header: sizes {shape}")
    if len(shape) == 3 and max(shape[1:]) > MAX_IDX_SIDE:
        raise DataError(f"{path.name} has an invalid header: images of {shape[1]}x{shape[2]}")


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as IDX (gzip if the name ends in .gz): for tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(f">{1 + array.ndim}i", 0x800 + array.ndim, *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as stream:
        stream.write(header + array.tobytes())

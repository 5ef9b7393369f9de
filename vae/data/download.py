"""Fetch the MNIST-family IDX files into the user cache: mirrors in turn, md5-checked, atomic.

Only the standard library (urllib) is used. Every file is streamed into a temporary file next to
its destination and checked against the published md5 before anything is renamed into place, so
a failed, partial or tampered download leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .core import DataError

Progress = Callable[[int, int], None]  # progress(done_bytes, total_bytes)

CHUNK_BYTES = 1 << 16
TIMEOUT_SECONDS = 30  # per socket operation, not for the whole file


@dataclass(frozen=True)
class Resource:
    filename: str
    md5: str  # of the .gz exactly as the mirrors publish it
    size: int  # bytes; a server sending more than this is cut off


# Checksums and sizes as published with the datasets (also used by torchvision and Keras).
RESOURCES: dict[str, tuple[Resource, ...]] = {
    "mnist": (
        Resource("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
        Resource("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881),
        Resource("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1648877),
        Resource("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542),
    ),
    "fashion-mnist": (
        Resource("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
        Resource("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 29515),
        Resource("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 4422102),
        Resource("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 5148),
    ),
}

# Tried in order. yann.lecun.com is left out: it now answers with an authorisation error.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

# One base URL replacing every mirror above, with the files under <base>/<dataset name>/.
MIRROR_ENV = "VAE_EXPLORER_MIRROR"


def cache_dir(name: str) -> Path:
    """The user's cache folder for `name`, where each OS keeps caches (platformdirs): on Linux
    $XDG_CACHE_HOME/vae-explorer/<name> (~/.cache/...), on macOS ~/Library/Caches/..., on Windows
    %LOCALAPPDATA%/vae-explorer/Cache/...."""
    return platformdirs.user_cache_path("vae-explorer", appauthor=False) / name


def mirror_urls(name: str) -> tuple[str, ...]:
    override = os.environ.get(MIRROR_ENV, "").strip()
    if override:
        return (f"{override.rstrip('/')}/{name}/",)
    return MIRRORS[name]


def download(name: str, folder: Path, progress: Progress | None = None) -> None:
    """Put every file of RESOURCES[name] missing from `folder` there, all or nothing.

    Raises DataError naming each mirror's failure. Files already in `folder` are kept as they are.
    """
    missing = [r for r in RESOURCES[name] if not (folder / r.filename).is_file()]
    if not missing:
        return
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the cache folder {folder} ({err})") from err
    total = sum(r.size for r in missing)
    done = 0
    staged: list[tuple[Path, Path]] = []  # (temporary file, final name)
    try:
        if progress is not None:
            progress(0, total)
        for resource in missing:
            tmp, done = _fetch_from_mirrors(name, resource, folder, done, total, progress)
            staged.append((tmp, folder / resource.filename))
        # Renames only after every file has passed its checksum: the cache never holds half a set.
        for tmp, final in staged:
            os.replace(tmp, final)
        staged.clear()
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _fetch_from_mirrors(
    name: str, resource: Resource, folder: Path, done: int, total: int, progress: Progress | None
) -> tuple[Path, int]:
    failures = []
    for base in mirror_urls(name):
        url = base + resource.filename
        try:
            tmp = _fetch(url, resource, folder, done, total, progress)
            return tmp, done + resource.size
        except DataError as err:
            failures.append(f"{url}: {err}")
    raise DataError("; ".join(failures))


def _fetch(
    url: str, resource: Resource, folder: Path, done: int, total: int, progress: Progress | None
) -> Path:
    """Stream `url` into a temporary file in `folder`; return it once its md5 matches."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{resource.filename}.", suffix=".part")
    tmp = Path(name)
    try:
        digest = hashlib.md5(usedforsecurity=False)  # md5 is what the datasets publish
        received = 0
        request = urllib.request.Request(url, headers={"User-Agent": "vae-explorer"})
        with (
            os.fdopen(fd, "wb") as handle,
            urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response,
        ):
            while chunk := response.read(CHUNK_BYTES):
                received += len(chunk)
                if received > resource.size:
                    raise DataError(f"server sent more than the expected {resource.size} bytes")
                digest.update(chunk)
                handle.write(chunk)
                if progress is not None:
                    progress(done + received, total)
            expected = response.headers.get("Content-Length")
        if expected is not None and expected.isdigit() and received < int(expected):
            raise DataError(
                f"download failed (connection closed after {received} of {expected} bytes)"
            )
        if digest.hexdigest() != resource.md5:
            raise DataError(
                f"checksum mismatch (md5 {digest.hexdigest()}, expected {resource.md5}; "
                f"{received} bytes received)"
            )
        return tmp
    except DataError:
        tmp.unlink(missing_ok=True)
        raise
    except urllib.error.HTTPError as err:
        tmp.unlink(missing_ok=True)
        raise DataError(f"download failed (HTTP {err.code} {err.reason})") from err
    except (OSError, ValueError, http.client.HTTPException) as err:
        # URLError (refused, DNS, TLS) is an OSError; IncompleteRead is an HTTPException.
        tmp.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise DataError(f"download failed ({reason})") from err
    except BaseException:
        tmp.unlink(missing_ok=True)  # e.g. a progress callback raising to cancel
        raise

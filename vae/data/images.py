"""Read a folder or a .zip of PNG/JPEG images into (N, H, W) uint8, entirely in memory.

A zip is never extracted: members are checked (count, paths, declared and actual sizes) before
any is read, and each is read with a byte cap, so zip bombs and `../` paths go nowhere.
"""

from __future__ import annotations

import functools
import io
import os
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from .core import DataError, read_regular_file

MAX_ZIP_MEMBERS = 200_000
MAX_IMAGE_BYTES = 16 * 2**20  # one image file
MAX_IMAGES_TOTAL_BYTES = 1 * 2**30  # everything, uncompressed
# Deflate packs real data (pixels, float arrays) 2-10 times; a zip bomb packs zeros ~1000 times.
# A member larger than RATIO_CHECK_BYTES that claims more than MAX_COMPRESSION_RATIO is refused
# from its header, before a byte is inflated.
MAX_COMPRESSION_RATIO = 200
RATIO_CHECK_BYTES = 1 * 2**20
IMAGE_FORMATS = ("PNG", "JPEG")
# Files that archivers and desktops add on their own; silently skipped.
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
SPLIT_FOLDERS = ("train", "test")

Member = tuple[PurePosixPath, Callable[[], bytes]]  # relative path, reader of its bytes


@dataclass(frozen=True)
class ImageSet:
    images: np.ndarray  # (N, H, W) uint8, sorted by path
    labels: list[str] | None  # class-folder name per image
    splits: list[str] | None  # "train" / "test" per image when the layout gives a split


def zip_members(data: bytes, max_member_bytes: int = MAX_IMAGE_BYTES) -> list[Member]:
    """Check every member of a zip archive and return readers for the files (junk skipped)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise DataError(f"not a valid zip file ({err})") from err
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise DataError(
            f"the zip has {len(infos):,} entries; at most {MAX_ZIP_MEMBERS:,} are allowed"
        )
    for info in infos:
        _check_member_name(info.filename)
        if info.flag_bits & 0x1:
            raise DataError(f"'{info.filename}' in the zip is encrypted")
    declared = sum(info.file_size for info in infos)
    if declared > MAX_IMAGES_TOTAL_BYTES:
        raise DataError(
            f"the zip would expand to {declared / 2**20:,.0f} MB; at most "
            f"{MAX_IMAGES_TOTAL_BYTES / 2**20:,.0f} MB are allowed"
        )
    members = []
    for info in infos:
        path = PurePosixPath(info.filename)
        if info.is_dir() or _is_junk(path.parts):
            continue
        if info.file_size > max_member_bytes:
            raise DataError(
                f"'{info.filename}' in the zip is larger than {max_member_bytes // 2**20} MB"
            )
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > RATIO_CHECK_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise DataError(
                f"'{info.filename}' in the zip would inflate {ratio:,.0f} times (from "
                f"{info.compress_size:,} to {info.file_size:,} bytes), more than real data "
                f"does: refused as a zip bomb"
            )
        members.append((path, _zip_reader(archive, info, max_member_bytes)))
    return members


def folder_members(root: Path) -> list[Member]:
    """Readers for the files under `root` (symlinked folders are not followed)."""
    members = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            relative = PurePosixPath(path.relative_to(root).as_posix())
            if _is_junk(relative.parts):
                continue
            try:
                info = path.lstat()  # the entry itself: links are checked where they point below
                size = path.stat().st_size if stat.S_ISLNK(info.st_mode) else info.st_size
            except OSError as error:
                raise DataError(f"cannot read '{relative}' ({error.strerror or error})") from None
            if size > MAX_IMAGE_BYTES:
                raise DataError(f"'{relative}' is larger than {MAX_IMAGE_BYTES // 2**20} MB")
            total += size
            if total > MAX_IMAGES_TOTAL_BYTES:
                raise DataError(f"the folder holds more than {MAX_IMAGES_TOTAL_BYTES // 2**20} MB")
            if len(members) >= MAX_ZIP_MEMBERS:
                raise DataError(f"the folder holds more than {MAX_ZIP_MEMBERS:,} files")
            members.append((relative, functools.partial(
                read_regular_file, path, MAX_IMAGE_BYTES, f"'{relative}'")))  # fmt: skip
    return members


def decode_images(
    members: list[Member], max_pixels: int, where: str, max_cells: int | None = None
) -> ImageSet:
    """Decode members to grayscale; labels come from sub-folder names.

    Layouts: flat (no labels); <class>/<image> (labels); and either one under train/ and test/,
    which then gives the split. A single folder wrapping everything (how zips of a folder look)
    is ignored.
    """
    from PIL import Image, UnidentifiedImageError

    if not members:
        raise DataError(f"no images found in {where}")
    members = sorted(members, key=lambda m: m[0].as_posix())
    relative = _strip_common_folders([m[0] for m in members])
    pixels = []
    size: tuple[int, int] | None = None
    first = ""
    for path, read in members:
        blob = read()
        try:
            with Image.open(io.BytesIO(blob), formats=IMAGE_FORMATS) as image:
                if image.format not in IMAGE_FORMATS:
                    raise DataError(
                        f"'{path}' in {where} is {image.format}, not a PNG or JPEG image"
                    )
                width, height = image.size  # from the header: nothing is decoded yet
                if width * height > max_pixels:
                    raise DataError(
                        f"'{path}' is {width}x{height} = {width * height:,} pixels; at most "
                        f"{max_pixels:,} (e.g. 64x64) are allowed: resize the images"
                    )
                if size is None:
                    size, first = (width, height), str(path)
                    if max_cells is not None and len(members) * width * height > max_cells:
                        raise DataError(
                            f"{len(members):,} images of {width}x{height} are more than "
                            f"{max_cells:,} pixel values in all: use fewer or smaller images"
                        )
                elif (width, height) != size:
                    raise DataError(
                        f"images must all be the same size: '{first}' is {size[0]}x{size[1]} "
                        f"but '{path}' is {width}x{height}"
                    )
                pixels.append(to_gray(image))  # (H, W)
        except DataError:
            raise
        except Image.DecompressionBombError as err:  # a header claiming > 179M pixels
            raise DataError(f"'{path}' in {where} claims far too many pixels ({err})") from err
        except UnidentifiedImageError:  # its message names a BytesIO and its address
            raise DataError(f"'{path}' in {where} is not a PNG or JPEG image") from None
        except (OSError, SyntaxError, ValueError) as err:
            raise DataError(f"'{path}' in {where} is not a PNG or JPEG image ({err})") from err
    labels, splits = _labels_and_splits(relative, where)
    return ImageSet(np.stack(pixels), labels, splits)


def to_gray(image) -> np.ndarray:
    """(H, W) uint8 grey levels of an image as a viewer shows it.

    16-bit greys are scaled from their 0..65535 range (Pillow's convert("L") clips them at 255,
    so a 16-bit image turns white); transparency (RGBA, LA, a palette with a transparent
    colour) is composited over white, the page a viewer shows it on (dropping the alpha
    leaves the colour under transparent pixels, often black everywhere).
    """
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode == "I" and values.max(initial=0) > 65535:  # 32-bit: its own range
            values = values / values.max() * 65535
        return np.clip(np.rint(values * (255 / 65535)), 0, 255).astype(np.uint8)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _labels_and_splits(relative: list[tuple[str, ...]], where: str):
    splits = None
    if all(len(p) >= 2 and p[0] in SPLIT_FOLDERS for p in relative) and {
        p[0] for p in relative
    } == set(SPLIT_FOLDERS):
        splits = [p[0] for p in relative]
        relative = [p[1:] for p in relative]
    folders = ["/".join(p[:-1]) for p in relative]
    if all(not f for f in folders):
        return None, splits
    loose = next((p for p, f in zip(relative, folders, strict=True) if not f), None)
    if loose is not None:
        raise DataError(
            f"'{'/'.join(loose)}' in {where} is not in a class folder while other images are: "
            f"put every image in a folder named after its class, or none"
        )
    return folders, splits


def _strip_common_folders(paths: list[PurePosixPath]) -> list[tuple[str, ...]]:
    parts = [p.parts for p in paths]
    depth = 0
    while all(len(p) > depth + 1 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1
    return [p[depth:] for p in parts]


def _check_member_name(name: str) -> None:
    # Never extracted, but a member that would escape its folder marks a hostile or broken zip.
    parts = re.split(r"[\\/]", name)
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise DataError(f"unsafe path '{name}' in the zip: absolute paths and '..' are refused")


def _is_junk(parts: tuple[str, ...]) -> bool:
    return (
        parts[0] == "__MACOSX" or parts[-1] in JUNK_NAMES or any(p.startswith(".") for p in parts)
    )


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> Callable[[], bytes]:
    def read() -> bytes:
        # Capped read: the declared size may lie; never inflate more than the cap allows.
        try:
            with archive.open(info) as stream:
                blob = stream.read(min(cap, info.file_size) + 1)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as err:
            raise DataError(f"'{info.filename}' in the zip is corrupt ({err})") from err
        if len(blob) > info.file_size:
            raise DataError(f"'{info.filename}' in the zip is larger than its header says")
        return blob

    return read

"""User data: every accepted format, and every rejection with the message a user would see."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from vae.data import DataError, load_user_data, to_original_units, userdata
from vae.data import images as image_module
from vae.data.core import split_indices

RNG = np.random.default_rng(0)


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def png(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def zipped(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    return buffer.getvalue()


def image_members(classes=("cat", "dog"), per_class=8, size=(6, 5), prefix="pets/") -> dict:
    return {
        f"{prefix}{c}/{i:02d}.png": png(RNG.integers(0, 256, size))
        for c in classes
        for i in range(per_class)
    }


# --- accepted formats --------------------------------------------------------------------------


def test_npz_with_labels_is_standardised_split_and_invertible():
    x = RNG.normal(5.0, 3.0, (200, 4))
    y = RNG.integers(0, 3, 200)
    data = load_user_data(npz(x=x, y=y), "blobs.npz")
    assert data.name == "blobs" and (data.n_train, data.n_test) == (170, 30)
    assert data.likelihood == "gaussian" and data.preprocessing["kind"] == "standardize"
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1, atol=1e-4)
    assert data.label_kind == "class" and data.class_names == ("0", "1", "2")
    train, test = split_indices(200, y)
    np.testing.assert_array_equal(data.y_test, y[test])
    np.testing.assert_allclose(
        to_original_units(data.x_test, data.preprocessing), x[test], rtol=1e-5
    )
    np.testing.assert_allclose(
        to_original_units(data.x_train, data.preprocessing), x[train], rtol=1e-5
    )


def test_npz_with_its_own_split_is_kept():
    x_train, x_test = RNG.random((30, 9)), RNG.random((12, 9))
    y_train, y_test = np.array(["a", "b", "c"] * 10), np.array(["c", "b"] * 6)
    data = load_user_data(
        npz(x_train=x_train, x_test=x_test, y_train=y_train, y_test=y_test, image_shape=[3, 3]),
        "own.npz",
    )
    np.testing.assert_array_equal(data.x_test, x_test.astype(np.float32))
    assert data.likelihood == "bernoulli" and data.preprocessing == {"kind": "identity"}
    assert data.class_names == ("a", "b", "c") and data.y_test[:2].tolist() == [2, 1]
    assert data.image_shape == (3, 3) and "own split" in data.description


def test_npz_single_array_under_any_name_and_continuous_labels():
    data = load_user_data(npz(points=RNG.normal(size=(50, 2)), target=RNG.normal(size=50)), "p.npz")
    assert data.label_kind == "continuous" and data.y_train.dtype == np.float32
    assert data.class_names is None


def test_npy_images_uint8_become_bernoulli_pixels():
    images = RNG.integers(0, 256, (40, 7, 5), dtype=np.uint8)
    data = load_user_data(npy(images), "faces.npy")
    assert data.image_shape == (7, 5) and data.input_dim == 35
    assert data.likelihood == "bernoulli" and data.preprocessing == {"kind": "divide", "by": 255.0}
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    rows = sorted(
        map(bytes, (np.concatenate([data.x_train, data.x_test]) * 255).round().astype(np.uint8))
    )
    assert rows == sorted(map(bytes, images.reshape(40, -1)))
    # (N, H, W, 1) is the same thing.
    assert load_user_data(npy(images[..., None]), "f.npy").image_shape == (7, 5)


def test_npy_from_a_path_on_disk(tmp_path):
    (tmp_path / "m.npy").write_bytes(npy(RNG.random((25, 3)).astype(np.float32)))
    data = load_user_data(tmp_path / "m.npy")
    assert data.name == "m" and data.n_train + data.n_test == 25 and data.y_train is None


def test_csv_with_header_and_text_labels():
    rows = "\n".join(f"{i},{i * 0.5},{'yes' if i % 3 else 'no'}" for i in range(40))
    data = load_user_data(f"a,b,Label\n{rows}\n".encode(), "t.csv")
    assert data.input_dim == 2 and data.class_names == ("no", "yes")
    assert "2 classes" in data.description


def test_csv_without_header_and_with_a_pandas_index_column():
    rows = "\n".join(f"{i},{i * 2.5},{i % 4}" for i in range(30))
    assert load_user_data(f"{rows}\n".encode(), "n.csv").input_dim == 3
    indexed = "\n".join(f"{i},{i * 2.5},{i % 4}" for i in range(30))
    data = load_user_data(f",a,target\n{indexed}\n".encode(), "i.csv")
    assert data.input_dim == 1 and data.label_kind == "class"


def test_zip_of_class_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = load_user_data(zipped(image_members()), "pets.zip")
    assert data.image_shape == (6, 5) and data.class_names == ("cat", "dog")
    assert (data.n_train, data.n_test) == (14, 2) and data.likelihood == "bernoulli"
    assert np.bincount(data.y_test).tolist() == [1, 1]  # stratified
    assert os.listdir(tmp_path) == []  # read in memory, nothing extracted


def test_zip_flat_is_unlabelled_and_train_test_folders_give_the_split():
    flat = {f"img{i}.png": png(RNG.integers(0, 256, (4, 4))) for i in range(12)}
    flat["__MACOSX/._img0.png"] = b"junk the mac adds"
    flat[".DS_Store"] = b"junk"
    data = load_user_data(zipped(flat), "flat.zip")
    assert data.y_train is None and data.n_train + data.n_test == 12
    split = image_members(per_class=6, prefix="ds/train/") | image_members(
        per_class=3, prefix="ds/test/"
    )
    data = load_user_data(zipped(split), "split.zip")
    assert (data.n_train, data.n_test) == (12, 6) and data.class_names == ("cat", "dog")


def test_folder_of_images_and_jpeg(tmp_path):
    for name, blob in image_members(per_class=6).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    (tmp_path / "pets" / "cat" / "extra.jpg").write_bytes(png(RNG.integers(0, 256, (6, 5)), "JPEG"))
    data = load_user_data(tmp_path / "pets")
    assert data.name == "pets" and data.n_train + data.n_test == 13
    assert data.class_names == ("cat", "dog")


# --- rejections --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blob", "filename", "message"),
    [
        (b"", "e.csv", "e.csv is empty"),
        (b"1,2,3", "data.xlsx", "unsupported file type '.xlsx'"),
        (npz(x=RNG.random((5, 3))), "few.npz", "has 5 rows; at least 10"),
        (npy(RNG.random((20, 4097))), "wide.npy", "4,097 features per row; at most 4,096"),
        (npy(RNG.random(30)), "flat.npy", r"shape \(30,\); expected \(rows, features\)"),
        (npy(RNG.random((20, 4, 4, 3))), "rgb.npy", "colour images are not supported"),
        (npy(np.array([["a", "b"]] * 20)), "s.npy", "must be numeric, got dtype <U1"),
        (npy(RNG.random((20, 3)) + 1j), "c.npy", "must be numeric"),
        (
            npy(np.array([[1.0, np.nan]] * 20)),
            "nan.npy",
            "20 NaN or infinite values.*row 0, column 1",
        ),
        (npy(np.array([[1.0, 2.0]] * 19 + [[np.inf, 0.0]])), "inf.npy", "row 19, column 0"),
        (npy(np.full((20, 2), 1e300)), "big.npy", "too large for float32"),
        (npy(np.array([{"a": 1}] * 20, dtype=object), True), "o.npy", "Python objects"),
        (npy(RNG.random((20, 3)))[:-40], "cut.npy", "truncated"),
        (b"not an npy file at all", "junk.npy", "not a valid .npy"),
        (npz(x_train=RNG.random((20, 3))), "half.npz", "has x_train but no x_test"),
        (
            npz(a=RNG.random((20, 3)), b=RNG.random((20, 3))),
            "ab.npz",
            r"no array named.*found: a, b",
        ),
        (npz(x_train=RNG.random((20, 3)), x_test=RNG.random((5, 4))), "w.npz", "different shapes"),
        (
            npz(x=RNG.random((20, 3)), y=np.zeros(19)),
            "y.npz",
            r"labels has shape \(19,\) but there are 20 rows",
        ),
        (npz(x=RNG.random((20, 3)), y=np.zeros((20, 2))), "y2.npz", r"labels has shape \(20, 2\)"),
        (
            npz(x=RNG.random((20, 4)), image_shape=[3, 3]),
            "is.npz",
            r"image_shape \(3, 3\) does not match 4",
        ),
        (b"this is not a zip", "x.zip", "not a valid zip file"),
        (b"PK\x03\x04 broken", "x.npz", "not a valid zip file"),
    ],
)
def test_arrays_are_rejected_with_a_clear_message(blob, filename, message):
    with pytest.raises(DataError, match=message):
        load_user_data(blob, filename)


def test_npy_header_claiming_a_huge_array_is_refused_before_allocating():
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000, 4096), }"
    header = header.ljust(118) + "\n"
    blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    with pytest.raises(DataError, match="more than 50,000,000 values"):
        load_user_data(blob, "huge.npy")


def test_too_many_rows_and_too_many_bytes(monkeypatch):
    with pytest.raises(DataError, match="200,001 rows; at most 200,000"):
        load_user_data(npy(np.zeros((200_001, 1), np.uint8)), "tall.npy")
    monkeypatch.setattr(userdata, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(DataError, match="larger than 0 MB"):
        load_user_data(npy(RNG.random((20, 20))), "big.npy")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a,colour\n" + "1,red\n" * 20,
            "column 'colour' is text \\(e.g. 'red' in data row 1\\).*name it 'label'",
        ),
        (
            "a,b\n" + "1,2\n" * 12 + "1,n/a?\n",
            "column 'b' is text \\(e.g. 'n/a\\?' in data row 13\\)",
        ),
        (
            "a,b\n" + "1,2\n" * 10 + "3,\n" + "1,2\n" * 5,
            "column 'b' has a missing value in data row 11",
        ),
        ("a,label\n" + "1,x\n" * 12 + "2,\n", "column 'label' has a missing value in data row 13"),
        ("label\n" + "x\n" * 20, "no feature columns, only 'label'"),
        ("a,b\n1,2\n3,4\n", "has 2 rows; at least 10"),
        ("", "e.csv holds no rows"),
    ],
)
def test_csv_rejections(text, message):
    filename = "e.csv" if not text else "t.csv"
    with pytest.raises(DataError, match=message):
        load_user_data(text.encode() or b" ", filename)


def test_csv_with_semicolons_or_tabs():
    for sep in (";", "\t"):
        rows = "\n".join(sep.join([str(i), str(i * 0.5), "ab"[i % 2]]) for i in range(20))
        data = load_user_data(f"x{sep}y{sep}class\n{rows}\n".encode(), "s.csv")
        assert data.input_dim == 2 and data.class_names == ("a", "b")  # y is a feature here


def test_csv_column_named_y_is_the_label_when_nothing_better_is_there():
    rows = "\n".join(f"{i},{i % 2}" for i in range(20))
    data = load_user_data(f"x,y\n{rows}\n".encode(), "xy.csv")
    assert data.input_dim == 1 and data.class_names == ("0", "1")


def test_total_values_limit(monkeypatch):
    monkeypatch.setattr(userdata, "MAX_CELLS", 100)
    with pytest.raises(DataError, match="has 120 values; at most 100"):
        load_user_data(("a,b,c\n" + "1,2,3\n" * 40).encode(), "cells.csv")
    with pytest.raises(DataError, match="16 images of 5x6 are more than 100 pixel values"):
        load_user_data(zipped(image_members()), "cells.zip")


def test_csv_row_limit(monkeypatch):
    monkeypatch.setattr(userdata, "MAX_ROWS", 15)
    with pytest.raises(DataError, match="more than 15 rows"):
        load_user_data(("a\n" + "1\n" * 16).encode(), "long.csv")


def test_images_of_different_sizes_are_named():
    members = image_members(per_class=5)
    members["pets/dog/zz.png"] = png(RNG.integers(0, 256, (9, 9)))
    with pytest.raises(DataError, match="'pets/cat/00.png' is 5x6 but 'pets/dog/zz.png' is 9x9"):
        load_user_data(zipped(members), "pets.zip")


def test_non_image_in_zip_is_named():
    members = image_members(per_class=5) | {"pets/cat/notes.txt": b"my cats"}
    with pytest.raises(DataError, match="'pets/cat/notes.txt' in pets.zip is not a PNG or JPEG"):
        load_user_data(zipped(members), "pets.zip")
    gif = image_members(per_class=5) | {
        "pets/cat/anim.gif": png(RNG.integers(0, 256, (6, 5)), "GIF")
    }
    with pytest.raises(DataError, match="anim.gif' in g.zip is not a PNG or JPEG"):
        load_user_data(zipped(gif), "g.zip")


def test_images_too_large_and_loose_images_next_to_class_folders():
    big = {f"b{i}.png": png(RNG.integers(0, 256, (65, 65))) for i in range(10)}
    with pytest.raises(DataError, match="65x65 = 4,225 pixels; at most 4,096"):
        load_user_data(zipped(big), "big.zip")
    mixed = image_members(per_class=5) | {"pets/loose.png": png(RNG.integers(0, 256, (6, 5)))}
    with pytest.raises(DataError, match="'loose.png' in m.zip is not in a class folder"):
        load_user_data(zipped(mixed), "m.zip")


@pytest.mark.parametrize(
    "evil", ["../evil.png", "pets/../../evil.png", "/tmp/evil.png", "C:/evil.png"]
)
def test_zip_with_escaping_paths_is_refused_and_nothing_written(tmp_path, monkeypatch, evil):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    members = image_members(per_class=5) | {evil: png(RNG.integers(0, 256, (6, 5)))}
    with pytest.raises(DataError, match=f"unsafe path '{evil}' in the zip"):
        load_user_data(zipped(members), "evil.zip")
    assert list(tmp_path.rglob("*")) == [work]


def test_png_header_claiming_a_huge_image_is_refused_without_decoding():
    blob = bytearray(png(np.zeros((2, 2))))
    # IHDR: width and height at bytes 16..24, its CRC over type + data at 29..33.
    blob[16:24] = struct.pack(">II", 30000, 30000)
    blob[29:33] = struct.pack(">I", zlib.crc32(bytes(blob[12:29])))
    members = image_members(per_class=5) | {"pets/cat/huge.png": bytes(blob)}
    with pytest.raises(DataError, match="'pets/cat/huge.png' in h.zip claims far too many pixels"):
        load_user_data(zipped(members), "h.zip")
    blob[16:24] = struct.pack(">II", 3000, 3000)  # under Pillow's bomb limit, over ours
    blob[29:33] = struct.pack(">I", zlib.crc32(bytes(blob[12:29])))
    with pytest.raises(DataError, match="'huge.png' is 3000x3000 = 9,000,000 pixels"):
        load_user_data(zipped({"huge.png": bytes(blob)}), "h.zip")


def test_zip_bomb_is_refused_from_its_headers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # 17 MB of zeros deflates to ~17 KB: over the per-file cap, refused before inflating.
    bomb = zipped(image_members(per_class=5) | {"pets/cat/bomb.png": bytes(17 * 2**20)})
    assert len(bomb) < 100_000
    with pytest.raises(DataError, match="'pets/cat/bomb.png' in the zip is larger than 16 MB"):
        load_user_data(bomb, "bomb.zip")
    # Many members that together expand past the total cap (lowered here to keep the test fast).
    monkeypatch.setattr(image_module, "MAX_IMAGES_TOTAL_BYTES", 4 * 2**20)
    spread = zipped({f"z/{i}.png": bytes(2**20) for i in range(5)})
    with pytest.raises(DataError, match="would expand to 5 MB; at most 4 MB"):
        load_user_data(spread, "spread.zip")
    monkeypatch.setattr(image_module, "MAX_ZIP_MEMBERS", 10)
    with pytest.raises(DataError, match="16 entries; at most 10"):
        load_user_data(zipped(image_members()), "many.zip")
    assert os.listdir(tmp_path) == []


def test_zip_member_larger_than_its_header_says_is_refused():
    blob = bytearray(zipped({"a/x.png": bytes(5_000_000)}))
    # Declare 100 bytes for 5 MB (local header at 22, central directory at +24): reading stops
    # at the declared size and the CRC check fails, so the 5 MB are never inflated into memory.
    blob[22:26] = struct.pack("<I", 100)
    central = blob.rfind(b"PK\x01\x02")
    blob[central + 24 : central + 28] = struct.pack("<I", 100)
    with pytest.raises(DataError, match=r"'a/x.png' in the zip is corrupt \(Bad CRC"):
        load_user_data(bytes(blob), "lie.zip")


def test_missing_path_and_bytes_without_a_name(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_user_data(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="a filename is needed"):
        load_user_data(b"1,2")

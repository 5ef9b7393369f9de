"""Hostile data uploads, through the Train page (AppTest), the CLI (`train --data`) and
vae.data.load_user_data (what both call).

The rules per file are tested in test_data_user.py; here every hostile file goes through the
real ways in and must end in one clear sentence with nothing else changed: no exception on
the page, Start stays disabled, the current model and the library folder are untouched, the
CLI exits non-zero with one `error:` line and writes no checkpoint, and nothing is extracted.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.hostile import (
    ROOT,
    assert_clear_message,
    assert_cli_refused,
    folder_state,
    run_cli,
    shown,
)
from vae.data import MAX_ROWS, DataError, load_user_data

RNG = np.random.default_rng(0)
MARKER_NAME = "PAYLOAD_RAN"
REDACTED = (
    "This app has encountered an error. The original error message is redacted to prevent data "
    "leaks. Full error details have been recorded in the logs (if you're on Streamlit Cloud, "
    "click on 'Manage app' in the lower right of your app)."
)


class Payload:
    """Unpickling this writes the marker file (see test_hostile_checkpoints.py)."""

    def __init__(self, marker: Path) -> None:
        self.code = f"open({str(marker)!r}, 'w').write('pwned')"

    def __reduce__(self):
        return (exec, (self.code,))


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=array.dtype.hasobject)
    return buffer.getvalue()


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def images(n: int = 6, size: tuple[int, int] = (6, 5)) -> dict[str, bytes]:
    return {
        f"pets/{c}/{i:02d}.png": png(RNG.integers(0, 256, size)) for c in ("cat", "dog")
        for i in range(n)
    }  # fmt: skip


def npy_header_only(shape: tuple[int, ...]) -> bytes:
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}".ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()


def png_claiming(width: int, height: int) -> bytes:
    blob = bytearray(png(np.zeros((2, 2))))
    blob[16:24] = struct.pack(">II", width, height)  # IHDR size, then fix its CRC
    blob[29:33] = struct.pack(">I", zlib.crc32(bytes(blob[12:29])))
    return bytes(blob)


def pickled_npy(marker: Path) -> bytes:
    return npy(np.array([Payload(marker)] * 20, dtype=object))


@functools.cache
def npz_bomb(size: int) -> bytes:
    """An .npz whose one array of zeros inflates to `size` bytes from about size/1000."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': ({size // 64}, 8), }}"
    header = header.ljust(118) + "\n"
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("x.npy", "w", force_zip64=True) as member,
    ):
        member.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        chunk = bytes(16 * 2**20)
        for start in range(0, size // 64 * 64, len(chunk)):
            member.write(chunk[: size // 64 * 64 - start])
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    id: str
    filename: str
    make: Callable[[Path], bytes]  # marker path -> file contents
    message: str


CASES = [
    # Wrong or missing type.
    Case("ext-xlsx", "data.xlsx", lambda m: b"1,2,3\n" * 20, "unsupported file type '.xlsx'"),
    Case("ext-none", "data", lambda m: b"1,2,3\n" * 20, "unsupported file type"),
    Case("ext-py", "evil.py", lambda m: b"import os; os.system('id')", "unsupported file type"),
    Case("csv-that-is-a-png", "x.csv", lambda m: png(np.zeros((4, 4))), "could not read|text"),
    Case("npz-that-is-random", "x.npz", lambda m: RNG.bytes(2048), "not a valid zip"),
    Case("npy-that-is-text", "x.npy", lambda m: b"hello world", "not a valid .npy"),
    Case("empty-csv", "e.csv", lambda m: b"", "is empty"),
    # Code execution attempts.
    Case("pickled-npy", "p.npy", pickled_npy, "Python objects"),
    Case("pickled-npz", "p.npz", lambda m: npz(x=np.array([Payload(m)] * 20)), "Python objects"),
    # Images.
    Case(
        "images-mixed-sizes",
        "mixed.zip",
        lambda m: zipped(images() | {"pets/dog/zz.png": png(RNG.integers(0, 256, (9, 9)))}),
        "must all be the same size",
    ),
    Case(
        "non-image-in-zip",
        "t.zip",
        lambda m: zipped(images() | {"pets/cat/notes.txt": b"my cats"}),
        "not a PNG or JPEG",
    ),
    Case(
        "script-in-zip",
        "s.zip",
        lambda m: zipped(images() | {"pets/cat/run.sh": b"#!/bin/sh\nrm -rf /\n"}),
        "not a PNG or JPEG",
    ),
    Case(
        "zip-bomb",
        "bomb.zip",
        lambda m: zipped(images() | {"pets/cat/bomb.png": bytes(17 * 2**20)}),
        "larger than 16 MB",
    ),
    Case(
        "zip-path-dotdot",
        "evil.zip",
        lambda m: zipped(images() | {"../../evil.png": png(np.zeros((6, 5)))}),
        "unsafe path",
    ),
    Case(
        "zip-path-absolute",
        "evil.zip",
        lambda m: zipped(images() | {"/tmp/evil.png": png(np.zeros((6, 5)))}),
        "unsafe path",
    ),
    Case(
        "png-decompression-bomb",
        "h.zip",
        lambda m: zipped(images() | {"pets/cat/huge.png": png_claiming(30000, 30000)}),
        "too many pixels",
    ),
    # Numbers.
    Case("nan-npy", "nan.npy", lambda m: npy(np.array([[1.0, np.nan]] * 20)), "NaN or infinite"),
    Case("inf-csv", "inf.csv", lambda m: b"a,b\n" + b"1,2\n" * 20 + b"inf,3\n", "NaN or infinite"),
    Case("single-row-csv", "one.csv", lambda m: b"a,b,c\n1,2,3\n", "1 rows; at least 10"),
    Case("single-row-npy", "one.npy", lambda m: npy(np.ones((1, 5))), "1 rows; at least 10"),
    Case(
        "rows-beyond-limit-csv",
        "tall.csv",
        lambda m: b"a\n" + b"1\n" * (MAX_ROWS + 1),
        "more than 200,000 rows",
    ),
    Case(
        "ten-million-rows-claimed",
        "tall.npy",
        lambda m: npy_header_only((10_000_000, 784)),
        "more than 50,000,000 values",
    ),
    Case("csv-text-column", "t.csv", lambda m: b"a,colour\n" + b"1,red\n" * 20, "is text"),
    Case(
        "csv-formula-injection",
        "f.csv",
        lambda m: b"a,b\n" + b"1,2\n" * 12 + b"1,\"=cmd|' /C calc'!A0\"\n",
        "is text",
    ),
    Case("too-wide", "wide.npy", lambda m: npy(RNG.random((20, 4097))), "at most 4,096"),
    Case("colour-images", "rgb.npy", lambda m: npy(RNG.random((20, 4, 4, 3))), "colour"),
    Case(
        "labels-wrong-length",
        "y.npz",
        lambda m: npz(x=RNG.random((20, 3)), y=np.zeros(19)),
        "labels has shape",
    ),
    # Unbounded parsing: each was minutes of CPU or gigabytes before the checks that bound it.
    Case(
        "csv-64kb-of-comma-quote",  # csv.Sniffer backtracked 11-21 s on this
        "q.csv",
        lambda m: b',"' * 32_768,
        "16,385 columns; at most 4,096",
    ),
    Case(
        "csv-quotes-below-the-column-cap",
        "q.csv",
        lambda m: b"a,b\n" + b'1,"' * 2_000 + b"\n" + b"1,2\n" * 12,
        "column 'a' is text",
    ),
    Case(
        "csv-3000-duplicate-names",  # pandas renames duplicates in quadratic time
        "dup.csv",
        lambda m: b",".join([b"a"] * 3_000) + b"\n" + (b",".join([b"1"] * 3_000) + b"\n") * 12,
        "the column name 'a' appears more than once",
    ),
    Case(
        "csv-100k-duplicate-names",
        "dup.csv",
        lambda m: b",".join([b"a"] * 100_000) + b"\n" + b"1\n" * 12,
        "100,000 columns; at most 4,096 features",
    ),
    Case(
        "csv-million-columns",  # 75 s and 4.7 GB before being refused
        "wide.csv",
        lambda m: (b"1," * 1_000_000)[:-1] + b"\n",
        "a line of 1.9 MB",
    ),
    Case(
        "csv-one-8mb-line",
        "line.csv",
        lambda m: b"a\n" + b"9" * (8 * 2**20) + b"\n",
        "a line of 8.0 MB",
    ),
    Case("csv-header-only", "h.csv", lambda m: b"a,b,c\n", "a header row but no data rows"),
    Case("csv-header-only-no-newline", "h.csv", lambda m: b"a,b,label", "no data rows"),
    Case(
        "csv-ragged-long-row",
        "r.csv",
        lambda m: b"a,b\n" + b"1,2\n" * 12 + b"1,2," + b"3," * 5000 + b"4\n",
        "not a well-formed CSV",
    ),
    Case(
        "csv-name-of-100k-chars",
        "n.csv",
        lambda m: b"a," + b"b" * 100_000 + b"\n" + b"1,2\n" * 12,
        "column name of 100,000 characters",
    ),
    Case(
        "csv-50k-text-classes",
        "classes.csv",
        lambda m: b"a,label\n" + b"".join(b"%d,c%d\n" % (i, i) for i in range(50_000)),
        "50,000 different text values; at most 100 classes",
    ),
    # Zip bombs inside an .npz: refused from the members' headers, before inflating.
    Case("npz-bomb-1000mb", "bomb.npz", lambda m: npz_bomb(1000 * 2**20), "larger than 381 MB"),
    Case("npz-bomb-64mb", "bomb.npz", lambda m: npz_bomb(64 * 2**20), "would inflate"),
    Case("npz-bomb-2mb", "bomb.npz", lambda m: npz_bomb(2 * 2**20), "would inflate"),
]
IDS = [case.id for case in CASES]


def test_the_payload_is_real(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    np.load(io.BytesIO(pickled_npy(marker)), allow_pickle=True)
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_load_user_data_refuses_with_one_sentence(case: Case, tmp_path: Path) -> None:
    marker = tmp_path / MARKER_NAME
    work = tmp_path / "work"
    work.mkdir()
    cwd = os.getcwd()
    os.chdir(work)  # anything extracted would land here
    try:
        with pytest.raises(DataError) as caught:
            load_user_data(case.make(marker), case.filename)
    finally:
        os.chdir(cwd)
    assert_clear_message(str(caught.value), case.message)
    assert list(tmp_path.rglob("*")) == [work]  # nothing written, payload never ran


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_train_refuses_with_one_error_line(case: Case, tmp_path: Path) -> None:
    marker = tmp_path / MARKER_NAME
    path = tmp_path / case.filename
    path.write_bytes(case.make(marker))
    out = tmp_path / "out" / "model.safetensors"
    argv = ["train", "--data", str(path), "--epochs", "1", "--quiet", "--out", str(out)]
    code, _, err = run_cli(argv)
    assert_cli_refused(code, err, case.message)
    assert not out.parent.exists()
    assert not marker.exists()


@pytest.mark.slow
def test_train_page_upload_shows_an_error_for_every_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every case uploaded on the Train page (browser-side type filter aside): one st.error,
    no exception, Start disabled, the current model and the library unchanged."""
    from streamlit.testing.v1 import AppTest

    from tests.test_hostile_checkpoints import _active_model
    from vae.library import ModelLibrary

    library = ModelLibrary(tmp_path / "models")
    library.save("kept", _active_model().model, {"name": "kept", "dataset": "digits"})
    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(library.root))
    before = folder_state(library.root)
    active = _active_model()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["vx_active_model"] = active
    at.run()  # app.py first, as a browser's first visit
    at.switch_page("pages/train.py")
    at.run()
    at.selectbox(key="train_dataset").set_value("upload")
    at.run()
    marker = tmp_path / MARKER_NAME
    handled = []
    for case in CASES:
        if case.filename.rsplit(".", 1)[-1] not in ("npz", "npy", "csv", "zip"):
            continue  # the browser's picker refuses these; see test_wrong_extension_on_the_page
        at.file_uploader(key="train_upload").set_value(
            (case.filename, case.make(marker), "application/octet-stream")
        )
        at.run()
        assert not at.exception, (case.id, [e.value for e in at.exception])
        errors = [shown(e.value) for e in at.error]
        assert len(errors) == 1, (case.id, errors)
        assert errors[0].startswith(f"Cannot use {case.filename}: "), (case.id, errors)
        assert_clear_message(errors[0], case.message)
        assert at.button(key="train_start").disabled, case.id
        assert at.session_state["vx_active_model"].key == active.key
        assert folder_state(library.root) == before
        assert not marker.exists()
        handled.append(case.id)
    assert len(handled) == len([c for c in CASES if not c.id.startswith("ext-")])


@pytest.mark.slow
def test_wrong_extension_on_the_page_is_refused_by_streamlit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that bypasses the browser's type filter: Streamlit refuses the file inside
    st.file_uploader (server-side extension check), so our parser never sees it."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_EXPLORER_MODELS", str(tmp_path / "models"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()  # app.py first, as a browser's first visit
    at.switch_page("pages/train.py")
    at.run()
    at.selectbox(key="train_dataset").set_value("upload")
    at.run()
    at.file_uploader(key="train_upload").set_value(("evil.py", b"print(1)", "text/x-python"))
    at.run()
    # Streamlit's own refusal; the details are redacted for users (client.showErrorDetails)
    # and the script stops there, before the parser and before any Start button.
    assert [e.value for e in at.exception] == [REDACTED]
    assert not [b for b in at.button if b.key == "train_start"]
    assert not (tmp_path / "models").exists()


# --- a real browser ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.e2e
def test_hostile_files_uploaded_from_chromium(tmp_path: Path, browser) -> None:
    """The real upload path (browser -> Streamlit's upload endpoint -> page) for representative
    files: a pickle posing as a checkpoint (Models page), a zip escaping its folder and a
    pickled .npy (Train page), and an .exe the browser's file filter must refuse."""
    from tests.e2e.driver import wait_idle
    from tests.test_faults import _start_server
    from tests.test_hostile_checkpoints import pickle_raw

    models = tmp_path / "models"
    marker = tmp_path / MARKER_NAME
    process, url = _start_server(models, tmp_path / "server.log")
    shown: dict[str, list[str]] = {}
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def upload(widget: str, name: str, data: bytes) -> None:
            box = page.locator(f".st-key-{widget} input[type=file]")
            box.wait_for(state="attached", timeout=90_000)
            box.set_input_files(
                files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}]
            )
            page.wait_for_timeout(500)
            wait_idle(page)

        def errors() -> list[str]:
            return page.locator('[data-testid="stAlertContentError"]').all_inner_texts()

        def exceptions() -> int:
            return page.locator('[data-testid="stException"]').count()

        def open_page(title: str) -> None:
            # Through the sidebar, as a student would (a deep link on a cold server first goes to app.py).
            page.get_by_role("link", name=title, exact=True).first.click(timeout=120_000)
            page.wait_for_timeout(500)
            wait_idle(page)

        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text("VAE explorer").first.wait_for(timeout=180_000)  # first run done
        open_page("Models")
        upload("models_upload", "model.safetensors", pickle_raw(marker))
        page.locator(".st-key-models_upload_add button").click()
        page.get_by_text("This file cannot be used").wait_for(timeout=60_000)
        shown["pickle checkpoint"] = errors()
        assert exceptions() == 0

        open_page("Train")
        page.locator(".st-key-train_dataset").wait_for(timeout=90_000)
        page.locator(".st-key-train_dataset").click()
        page.get_by_role("option", name="Upload your own").click()
        wait_idle(page)
        evil_zip = CASES[IDS.index("zip-path-dotdot")].make(marker)
        upload("train_upload", "evil.zip", evil_zip)
        page.get_by_text("Cannot use evil.zip").wait_for(timeout=60_000)
        shown["zip escaping its folder"] = errors()
        upload("train_upload", "p.npy", pickled_npy(marker))
        page.get_by_text("Cannot use p.npy").wait_for(timeout=60_000)
        shown["pickled npy"] = errors()
        assert exceptions() == 0

        upload("train_upload", "evil.exe", b"MZ\x90\x00" + bytes(100))
        page.wait_for_timeout(1500)
        shown["exe"] = [page.locator(".st-key-train_upload").inner_text()]
        assert exceptions() == 0
    finally:
        process.kill()
        process.wait(10)
    assert "unsafe path" in " ".join(shown["zip escaping its folder"])
    assert "Python objects" in " ".join(shown["pickled npy"])
    assert "not a vae-explorer checkpoint" in " ".join(shown["pickle checkpoint"])
    assert "not allowed" in shown["exe"][0].lower() or "evil.exe" not in shown["exe"][0], shown
    assert not marker.exists()
    assert not models.exists() or list(models.iterdir()) == []
    print("\n" + "\n".join(f"{k}: {v}" for k, v in shown.items()))

"""Downloads against a local HTTP server on 127.0.0.1: checksums, atomic cache, progress, failures.

Nothing here can reach the internet: the mirror is always a local URL (see also conftest.py).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from vae.data import DataError, builtin, load_dataset
from vae.data import download as dl
from vae.data.idx import write_idx

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/served over HTTP on 127.0.0.1; yields (root folder, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VAE_EXPLORER_DATA", raising=False)
    monkeypatch.setitem(builtin.SYSTEM_DIRS, "fashion-mnist", ())
    return tmp_path / "cache" / "vae-explorer"


def publish(folder: Path, monkeypatch, n_train=60, n_test=20, dataset="mnist") -> list[dl.Resource]:
    """Write a small valid IDX set into `folder` and make it the one the downloader expects."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    resources = [
        dl.Resource(
            name,
            hashlib.md5((folder / name).read_bytes()).hexdigest(),
            (folder / name).stat().st_size,
        )
        for name in FILES
    ]
    monkeypatch.setitem(dl.RESOURCES, dataset, tuple(resources))
    return resources


def closed_port_url() -> str:
    with socket.socket() as sock:  # bind, note the port, close: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_the_suite_never_points_at_real_mirrors():
    assert all(url.startswith("http://127.0.0.1") for url in dl.mirror_urls("mnist"))
    assert all(url.startswith("http://127.0.0.1") for url in dl.mirror_urls("fashion-mnist"))


def test_download_verifies_fills_cache_and_reports_progress(server, cache, monkeypatch):
    root, url = server
    resources = publish(root / "mnist", monkeypatch)
    monkeypatch.setenv("VAE_EXPLORER_MIRROR", url)
    calls = []
    data = load_dataset("mnist", progress=lambda done, total: calls.append((done, total)))
    assert (data.n_train, data.n_test) == (60, 20)
    assert leftovers(cache / "mnist") == sorted(FILES)  # no .part files
    for name in FILES:
        assert (cache / "mnist" / name).read_bytes() == (root / "mnist" / name).read_bytes()
    total = sum(r.size for r in resources)
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    # Second load comes from the cache: the server can be gone.
    shutil.rmtree(root / "mnist")
    again = load_dataset("mnist")
    np.testing.assert_array_equal(again.x_test, data.x_test)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="the shared MNIST test set is absent")
def test_download_of_the_real_mnist_test_files_with_their_md5(server, cache, monkeypatch):
    root, url = server
    shutil.copytree(SHARED_MNIST, root / "mnist")
    names = FILES[2:]
    monkeypatch.setitem(
        dl.RESOURCES,
        "mnist",
        tuple(
            dl.Resource(
                n,
                hashlib.md5((root / "mnist" / n).read_bytes()).hexdigest(),
                (root / "mnist" / n).stat().st_size,
            )
            for n in names
        ),
    )
    monkeypatch.setenv("VAE_EXPLORER_MIRROR", url)
    data = load_dataset("mnist")
    assert data.n_train + data.n_test == 10000
    assert leftovers(cache / "mnist") == sorted(names)


def test_checksum_mismatch_leaves_the_cache_empty(server, cache, monkeypatch):
    root, url = server
    publish(root / "fashion-mnist", monkeypatch, dataset="fashion-mnist")
    target = root / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    blob = bytearray(target.read_bytes())
    blob[100] ^= 0xFF  # one flipped byte, same size
    target.write_bytes(bytes(blob))
    monkeypatch.setenv("VAE_EXPLORER_MIRROR", url)
    with pytest.raises(DataError) as caught:
        load_dataset("fashion-mnist")
    message = str(caught.value)
    assert "t10k-images-idx3-ubyte.gz" in message and "checksum mismatch" in message
    assert "--data-dir" in message and "apt-get install dataset-fashion-mnist" in message
    assert leftovers(cache / "fashion-mnist") == []  # not even the three good files


def test_missing_file_on_the_server_is_all_or_nothing(server, cache, monkeypatch):
    root, url = server
    publish(root / "mnist", monkeypatch)
    (root / "mnist" / FILES[-1]).unlink()
    monkeypatch.setenv("VAE_EXPLORER_MIRROR", url)
    with pytest.raises(DataError, match="HTTP 404"):
        load_dataset("mnist")
    assert leftovers(cache / "mnist") == []


def test_server_down_raises_and_leaves_nothing(cache, monkeypatch):
    monkeypatch.setenv("VAE_EXPLORER_MIRROR", closed_port_url())
    with pytest.raises(DataError, match="download failed.*refused") as caught:
        load_dataset("mnist")
    assert "--data-dir" in str(caught.value)
    assert leftovers(cache) == []


def test_next_mirror_is_tried_when_one_fails(server, cache, monkeypatch):
    root, url = server
    publish(root / "mnist", monkeypatch)
    monkeypatch.delenv("VAE_EXPLORER_MIRROR")
    monkeypatch.setitem(dl.MIRRORS, "mnist", (closed_port_url(), url + "mnist/"))
    assert load_dataset("mnist").n_train == 60


def test_server_sending_too_much_is_cut_off(server, cache, monkeypatch):
    root, url = server
    resources = publish(root / "mnist", monkeypatch)
    smaller = [dl.Resource(r.filename, r.md5, r.size - 1) for r in resources]
    monkeypatch.setitem(dl.RESOURCES, "mnist", tuple(smaller))
    monkeypatch.setenv("VAE_EXPLORER_MIRROR", url)
    with pytest.raises(DataError, match="more than the expected"):
        load_dataset("mnist")
    assert leftovers(cache / "mnist") == []


def test_cancelling_from_the_progress_callback_leaves_nothing(server, cache, monkeypatch):
    root, url = server
    publish(root / "mnist", monkeypatch, n_train=200)
    monkeypatch.setenv("VAE_EXPLORER_MIRROR", url)

    def cancel(done: int, total: int) -> None:
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_dataset("mnist", progress=cancel)
    assert leftovers(cache / "mnist") == []


def test_incomplete_cache_fetches_only_what_is_missing(server, cache, monkeypatch):
    root, url = server
    resources = publish(root / "mnist", monkeypatch)
    (cache / "mnist").mkdir(parents=True)
    for name in FILES[2:]:  # a cache holding only the test files is topped up, not used as is
        shutil.copy(root / "mnist" / name, cache / "mnist" / name)
        (root / "mnist" / name).unlink()
    monkeypatch.setenv("VAE_EXPLORER_MIRROR", url)
    calls = []
    data = load_dataset("mnist", progress=lambda d, t: calls.append(t))
    assert (data.n_train, data.n_test) == (60, 20)
    assert set(calls) == {resources[0].size + resources[1].size}


class HalfHandler(http.server.BaseHTTPRequestHandler):
    """Promises 1000 bytes, sends 500, hangs up: a connection dropped mid-download."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(bytes(500))
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


def test_connection_dropped_mid_file_leaves_nothing(cache, monkeypatch):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HalfHandler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        monkeypatch.setenv("VAE_EXPLORER_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}/")
        with pytest.raises(DataError, match="connection closed after 500 of 1000 bytes"):
            load_dataset("mnist")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert leftovers(cache) == []

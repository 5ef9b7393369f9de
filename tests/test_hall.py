"""A lecture hall on loopback: 2 Streamlit workers behind HAProxy (deploy/hall.py), driven by
Chromium through the proxy as students' browsers would be.

The workers start once for the module (a worker's first session pays ~10 s of imports); the
test that kills a worker runs last. Skipped, saying why, where HAProxy or Chromium is missing
(scripts/test.sh installs both with apt where it can).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as st_load

from deploy.hall import COOKIE, Hall, free_port, haproxy_binary, render_config, running_hall
from tests.conftest import child_pids, small_model
from tests.e2e.driver import (
    click_panel_shown,
    image_sources,
    keyed_graph,
    lonely_points,
    to_page,
    wait_idle,
)
from ui.reconnect import NOTICE, previous_session_id
from vae.checkpoint import SUFFIX, checkpoint_bytes, load_checkpoint
from vae.library import ModelLibrary

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "e2e"
SHARED = "class model"  # in the library before the hall starts
HAPROXY_MISSING = "HAProxy is not installed (apt-get install haproxy; scripts/test.sh does)"


def checkpoint(seed: int, name: str) -> bytes:
    return checkpoint_bytes(small_model(seed), {"name": name, "dataset": "digits", "seed": seed})


# --- without a running hall ------------------------------------------------------------------


@pytest.mark.skipif(haproxy_binary() is None, reason=HAPROXY_MISSING)
def test_the_rendered_config_is_valid_haproxy_with_one_sticky_server_per_worker(
    tmp_path: Path,
) -> None:
    config = render_config([("w1", "127.0.0.1", 8601), ("w2", "10.0.0.12", 8601)], "0.0.0.0", 8501)
    (tmp_path / "haproxy.cfg").write_text(config)
    check = subprocess.run([haproxy_binary(), "-c", "-f", str(tmp_path / "haproxy.cfg")],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "server w1 127.0.0.1:8601 cookie w1" in config
    assert "server w2 10.0.0.12:8601 cookie w2" in config
    assert f"cookie {COOKIE} insert" in config and "httpchk GET /_stcore/health" in config


def test_the_previous_session_id_is_the_third_websocket_protocol_entry() -> None:
    # What Chromium sent (tests below): a first visit, then a reconnect after the server died.
    assert previous_session_id("streamlit, 2|aa9e554a|08f0|1796353703") is None
    assert (
        previous_session_id("streamlit, 2|3c0a|9e64|1796353703, cfea4139-caa6") == "cfea4139-caa6"
    )
    assert previous_session_id("streamlit, , ") is None
    assert previous_session_id(None) is None


CONCURRENT_SAVER = r"""
import json, sys, time
from vae.library import ModelLibrary, ModelExistsError
root, blob_path, start, names = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
library, blob = ModelLibrary(root), open(blob_path, "rb").read()
outcome = {}
while time.time() < start:
    pass
for i in range(names):
    try:
        library.import_bytes(f"same {i}", blob)
        outcome[i] = "saved"
    except ModelExistsError:
        outcome[i] = "exists"
print(json.dumps(outcome))
"""


@pytest.mark.slow
def test_two_processes_saving_the_same_names_at_once_lose_nothing(tmp_path: Path) -> None:
    """Two processes (two workers, or two machines on one share) add the same 30 names at the
    same instant: every name is saved exactly once, whole, with one writer's bytes; the other
    is told the name exists; no temp file is left."""
    root, names = tmp_path / "models", 30
    blobs = []
    for seed in (1, 2):
        blobs.append(tmp_path / f"seed{seed}{SUFFIX}")
        blobs[-1].write_bytes(checkpoint(seed, f"seed {seed}"))
    start = time.time() + 4.0  # both are importing torch meanwhile
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    savers = [subprocess.Popen([sys.executable, "-c", CONCURRENT_SAVER, str(root), str(blob),
                                str(start), str(names)], stdout=subprocess.PIPE, text=True,
                               env=env, cwd=ROOT)  # fmt: skip
              for blob in blobs]  # fmt: skip
    outcomes = [json.loads(saver.communicate(timeout=120)[0]) for saver in savers]
    assert all(saver.returncode == 0 for saver in savers)
    for i in range(names):
        results = sorted(outcome[str(i)] for outcome in outcomes)
        assert results == ["exists", "saved"], (i, results)
        winner = [outcome[str(i)] for outcome in outcomes].index("saved")
        saved = root / f"same {i}{SUFFIX}"
        assert saved.read_bytes() == blobs[winner].read_bytes()  # whole, and one writer's
        _, meta = load_checkpoint(saved)
        assert meta["seed"] == winner + 1
    assert sorted(p.name for p in root.iterdir()) == sorted(
        f"same {i}{SUFFIX}" for i in range(names)
    )


@pytest.mark.slow
@pytest.mark.skipif(haproxy_binary() is None, reason=HAPROXY_MISSING)
def test_serve_hall_prints_the_url_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    """scripts/serve-hall.sh's launcher: the printed URL answers through the proxy; SIGINT
    (Ctrl-C) ends the launcher with 0 and leaves no worker or proxy behind."""
    port = free_port()
    env = {**os.environ, "VAE_EXPLORER_MODELS": str(tmp_path / "models"),
           "VAE_EXPLORER_MIRROR": "http://127.0.0.1:9/", "PYTHONPATH": str(ROOT)}  # fmt: skip
    launcher = subprocess.Popen(
        [sys.executable, "-m", "deploy.hall", "2", "--port", str(port), "--bind", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = []
        while not lines or "Ctrl-C" not in lines[-1]:
            line = launcher.stdout.readline()
            assert line, "the launcher exited early:\n" + "".join(lines)
            lines.append(line)
        url = f"http://127.0.0.1:{port}"
        assert any(url in line for line in lines), lines
        assert status(url + "/_stcore/health") == 200
        started = child_pids(launcher.pid)
        assert len(started) == 3  # two workers and the proxy
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(60) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert not [pid for pid in started if Path(f"/proc/{pid}").exists()]
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/_stcore/health", timeout=2)


# --- through the proxy -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hall]:
    if haproxy_binary() is None:
        pytest.skip(HAPROXY_MISSING)
    folder = tmp_path_factory.mktemp("hall")
    ModelLibrary(folder / "models").save(
        SHARED, small_model(0), {"name": SHARED, "dataset": "digits"}
    )
    env = {**os.environ, "VAE_EXPLORER_MIRROR": "http://127.0.0.1:9/"}  # no downloads
    with running_hall(2, port=free_port(), bind="127.0.0.1", models=folder / "models",
                      logs=folder / "logs", env=env) as running:  # fmt: skip
        yield running


def student(browser, hall: Hall, worker: str | None = None):
    """A browser of its own (its own cookies), pinned to `worker` if given."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    if worker is not None:
        context.add_cookies([{"name": COOKIE, "value": worker, "url": hall.url}])
    page = context.new_page()
    page.closed_sockets = []
    page.on("websocket", lambda ws: ws.on("close", lambda _: page.closed_sockets.append(ws.url)))
    return page


def assigned_worker(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)


def open_model_map(page, hall: Hall, name: str = SHARED) -> None:
    """Models -> choose `name` -> Load -> Latent map (through the sidebar: one session)."""
    page.goto(hall.url + "/models")
    page.locator(".st-key-models_load button").wait_for(timeout=120_000)
    choose(page, name)
    page.locator(".st-key-models_load button").click()
    page.get_by_text("is now the current model").wait_for(timeout=60_000)
    page.get_by_role("link", name="Latent map", exact=True).first.click()
    keyed_graph(page, "map_chart")
    wait_idle(page)


def choose(page, name: str) -> None:
    """Pick `name` in the Models page's model box (a combobox whose input holds the choice)."""
    combo = page.locator(".st-key-models_chosen").get_by_role("combobox")
    if combo.input_value() != name:
        combo.click()
        page.get_by_role("option", name=name, exact=True).click()
        deadline = time.monotonic() + 30
        while combo.input_value() != name and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        wait_idle(page)


def click_a_point(page, nth: int = 0) -> dict:
    """Click a data point; returns what the browser-drawn panel shows once it is complete
    (the browser answers a click; the server hears of it afterwards)."""
    graph = keyed_graph(page, "map_chart")
    x, y, index = lonely_points(graph, nth + 1)[nth]
    page.mouse.click(*to_page(graph, x, y))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = click_panel_shown(page)
        if shown and shown["index"] == index:
            wait_idle(page)
            return shown
        page.wait_for_timeout(50)  # lets Playwright deliver the page's events
    raise TimeoutError("the clicked point's panel did not appear")


def server_pictures(page) -> list[str]:
    """The media URLs of a page whose pictures the server made: the Inference lab's x (they
    exist only in the memory of the worker that ran the page)."""
    page.get_by_role("link", name="Inference lab", exact=True).first.click()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pictures = [url for url in image_sources(page) if "/media/" in url]
        if pictures:
            wait_idle(page)
            return [url for url in image_sources(page) if "/media/" in url]
        page.wait_for_timeout(50)
    raise TimeoutError("the Inference lab drew no picture")


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
@pytest.mark.e2e
def test_a_session_sticks_to_its_worker(hall: Hall, browser) -> None:
    """A new browser is given a worker by cookie; the pictures its pages show exist only in
    that worker's memory, and the proxy fetches every one of them from there."""
    page = student(browser, hall)  # no cookie: the proxy chooses
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and "/media/" in r.url else None)  # fmt: skip
    open_model_map(page, hall)
    mine = assigned_worker(page)
    assert mine in ("w1", "w2")
    click_a_point(page)
    pictures = server_pictures(page)
    other = "w2" if mine == "w1" else "w1"
    for url in pictures:
        media = "/media/" + url.rsplit("/media/", 1)[1]
        assert status(hall.worker(mine).url + media) == 200
        assert status(hall.worker(other).url + media) == 404  # what breaks without stickiness
    assert not failed and not page.closed_sockets
    assert assigned_worker(page) == mine
    page.context.close()


@pytest.mark.slow
@pytest.mark.e2e
def test_a_model_saved_through_one_worker_is_listed_and_opens_through_the_other(
    hall: Hall, browser, tmp_path: Path
) -> None:
    """Upload through w1 (the upload passes Streamlit's XSRF check through the proxy), then
    w2 lists it, loads it and draws its map."""
    upload = tmp_path / f"uploaded-through-w1{SUFFIX}"
    upload.write_bytes(checkpoint(7, "uploaded"))
    first = student(browser, hall, "w1")
    first.goto(hall.url + "/models")
    first.locator(".st-key-models_upload input[type=file]").set_input_files(str(upload))
    first.locator(".st-key-models_upload_add button").click(timeout=60_000)
    # The upload is checked in a sandboxed child that imports torch: seconds, more under load.
    first.get_by_text("Added 'uploaded-through-w1' to the library.").wait_for(timeout=180_000)
    assert assigned_worker(first) == "w1"

    second = student(browser, hall, "w2")
    open_model_map(second, hall, "uploaded-through-w1")
    assert assigned_worker(second) == "w2"
    assert "uploaded-through-w1" in second.locator('[data-testid="stSidebar"]').inner_text()
    for page in (first, second):
        page.context.close()


@pytest.mark.slow
@pytest.mark.e2e
def test_the_same_name_added_through_both_workers_at_once_loses_nothing(
    hall: Hall, browser, tmp_path: Path
) -> None:
    """Two students, one per worker, add different checkpoints under one name at the same
    moment: one is added whole, the other is told the name is taken (its upload stays on its
    page, to be added under another name); the library holds exactly the winner's bytes."""
    pages, blobs = {}, {}
    for worker, seed in (("w1", 11), ("w2", 12)):
        blobs[worker] = checkpoint(seed, f"seed {seed}")
        upload = tmp_path / f"{worker}{SUFFIX}"
        upload.write_bytes(blobs[worker])
        page = student(browser, hall, worker)
        page.goto(hall.url + "/models")
        page.locator(".st-key-models_upload input[type=file]").set_input_files(str(upload))
        name_box = page.locator(".st-key-models_upload_name input")
        name_box.fill("same name")
        name_box.press("Enter")
        wait_idle(page)
        pages[worker] = page
    for page in pages.values():  # both requests are in flight before either is answered
        page.locator(".st-key-models_upload_add button").click(no_wait_after=True)
    outcomes = {}
    deadline = time.monotonic() + 180  # each upload is checked in a child that imports torch
    while len(outcomes) < 2 and time.monotonic() < deadline:
        for worker, page in pages.items():
            text = page.locator("section.stMain, [data-testid='stMain']").first.inner_text()
            if "Added 'same name'" in text:
                outcomes[worker] = "added"
            elif "already exists" in text:
                outcomes[worker] = "exists"
        time.sleep(0.1)
    assert sorted(outcomes.values()) == ["added", "exists"], outcomes
    winner = next(w for w, outcome in outcomes.items() if outcome == "added")
    # The library holds the winner's checkpoint as the app re-serialised it: its weights.
    kept = st_load((hall.models / f"same name{SUFFIX}").read_bytes())
    assert kept.keys() == st_load(blobs[winner]).keys()
    assert all(torch.equal(kept[k], v) for k, v in st_load(blobs[winner]).items())
    assert not [p for p in hall.models.iterdir() if p.name.startswith(".")]  # no temp files
    for page in pages.values():
        page.context.close()


@pytest.mark.slow
@pytest.mark.e2e
def test_a_worker_killed_mid_class_reconnects_its_students_and_leaves_the_others_alone(
    hall: Hall, browser
) -> None:
    """SIGKILL w1 while one student on each worker looks at a clicked point. The w1 student's
    page reconnects through the proxy (to w2) by itself, and its next click tells them their
    session was restarted, with the model back from the address bar; the w2 student's
    connection never drops and their clicks go on. Runs last: w1 stays dead."""
    pages = {worker: student(browser, hall, worker) for worker in ("w1", "w2")}
    for page in pages.values():
        open_model_map(page, hall)
        click_a_point(page)
    victim = hall.worker("w1").process
    trainer = student(browser, hall, "w1")  # the Train page starts a warm training process
    trainer.goto(hall.url + "/train")
    trainer.locator(".st-key-train_start button").wait_for(timeout=120_000)
    deadline = time.monotonic() + 60
    while not (children := child_pids(victim.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert children, "w1 started no training process"
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    moved, untouched = pages["w1"], pages["w2"]

    deadline = time.monotonic() + 30
    while not moved.closed_sockets and time.monotonic() < deadline:
        moved.wait_for_timeout(100)  # lets Playwright deliver the websocket events
    assert moved.closed_sockets, "the killed worker's page never saw its connection drop"
    # The first click reaches w2, which has no session for this page: the new session's first
    # run restores the view from the address bar and says what happened.
    graph = keyed_graph(moved, "map_chart")
    moved.mouse.click(*to_page(graph, *lonely_points(graph, 3)[2][:2]))
    toast = moved.locator('[data-testid="stToast"]')
    toast.first.wait_for(timeout=60_000)
    assert NOTICE.split(",")[0] in toast.first.inner_text()
    wait_idle(moved)
    click_a_point(moved, nth=1)  # and the clicks go on, heard by w2
    assert assigned_worker(moved) == "w2"  # the proxy moved the browser
    assert SHARED in moved.locator('[data-testid="stSidebar"]').inner_text()  # model restored
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    moved.screenshot(path=str(ARTIFACTS / "hall-reconnected.png"))

    click_a_point(untouched, nth=1)
    assert not untouched.closed_sockets  # its websocket never dropped
    assert untouched.locator('[data-testid="stToast"]').count() == 0
    assert assigned_worker(untouched) == "w2"
    # The killed worker's training process did not outlive it (its stdin closed).
    deadline = time.monotonic() + 30
    while [pid for pid in children if Path(f"/proc/{pid}").exists()]:
        assert time.monotonic() < deadline, f"training processes {children} outlived w1"
        time.sleep(0.2)
    for page in [*pages.values(), trainer]:
        page.context.close()

"""Training in a child process (TrainingJob(runner="process")): same results as the thread,
Stop, heartbeat, divergence, a killed child, a dead server, and the pipe protocol itself."""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from runner.frames import ProtocolError, read_frame, write_frame
from runner.job import TrainingJob
from runner.worker import close_all_workers, prestart_worker
from tests.conftest import small_model, wait_until
from tests.lingering_exit import hold_child_exits, reaped, running
from vae import VAE, ModelConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return SimpleNamespace(name="digits", x_train=x[:600], x_test=x[1500:1700])


@pytest.fixture(autouse=True, scope="module")
def no_workers_left():
    yield
    close_all_workers()


def own_slots() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(1)


def process_job(model, data, config, **kwargs) -> TrainingJob:
    return TrainingJob(model, data, config, slots=own_slots(), runner="process", **kwargs)


def gone(pid: int) -> bool:
    """The process has exited (and is not a zombie still holding its pid)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


# --- what the job does with a child ---------------------------------------------------------


def test_a_child_trains_exactly_like_the_thread(digits):
    """Same seed, same data: the child's epochs and final weights equal the in-process run."""
    prestart_worker()  # as the Train page does while the user picks settings
    config = TrainConfig(epochs=3, batch_size=128, snapshot_size=50)
    threaded = small_model()  # one after the other: torch's global RNG is per process
    reference = TrainingJob(threaded, digits, config, slots=own_slots()).start()
    assert reference.join(120)
    job = process_job(small_model(), digits, config).start()
    assert job.join(120)
    progress = job.progress()
    assert progress.state == "done", progress.message
    assert [r.epoch for r in progress.reports] == [1, 2, 3]
    assert [r.train for r in progress.reports] == [r.train for r in reference.progress().reports]

    def untimed(history):
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]

    assert untimed(job.result.history) == untimed(reference.result.history)
    assert len(job.result.snapshots) == 3 and job.result.snapshots[-1].mu.shape == (50, 2)
    np.testing.assert_array_equal(job.result.snapshots[-1].mu, reference.result.snapshots[-1].mu)
    for name, tensor in threaded.state_dict().items():
        assert torch.equal(job.model.state_dict()[name], tensor), name
    assert not job.model.training
    wait_until(lambda: gone(job.worker_pid), 60, "the child's exit")  # reaped in the background


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_run_is_done_when_its_last_frame_arrives_not_when_the_child_exits(
    digits, tmp_path, monkeypatch
):
    """The child's exit can take seconds after its result (issue 18: 20 of 47.6 s): the job is
    done, with its weights, while the child still exits; then the child is reaped (no zombie)
    and leaves no temporary file."""
    gate = hold_child_exits(tmp_path, monkeypatch)
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    job = process_job(model, digits, TrainConfig(epochs=2, batch_size=64)).start()
    try:
        assert job.join(120), "the job waited for the child's exit"
        assert job.progress().state == "done", job.progress().message
        assert running(job.worker_pid), "the child had already exited: nothing was measured"
        assert any(not torch.equal(v, before[k]) for k, v in job.model.state_dict().items())
    finally:
        gate.release()
    wait_until(lambda: reaped(job.worker_pid), 60, "the child's exit to be reaped")
    assert not list(gate.temp_dir.iterdir())


def test_the_child_builds_the_live_pictures_with_the_labels(digits):
    """live_figures=True: the child sends the Train page's map and curves, serialised."""
    x, y = load_digits(return_X_y=True)
    data = SimpleNamespace(
        name="digits", x_train=digits.x_train, x_test=digits.x_test, y_test=y[1500:1700],
        label_kind="class", class_names=[str(i) for i in range(10)],
    )  # fmt: skip
    config = TrainConfig(epochs=3, batch_size=64, snapshot_size=150)
    # No heartbeat timeout: a cold child's warm-up alone can take 15 s on a loaded machine.
    job = process_job(small_model(), data, config, live_figures=True,
                      heartbeat_timeout=None).start()  # fmt: skip
    assert job.join(120)
    figures = job.progress().figures
    assert job.progress().state == "done" and figures is not None
    assert figures["epoch"] >= 1
    curves, latent_map = json.loads(figures["curves"]), json.loads(figures["map"])
    assert {t["name"] for t in curves["data"]} == {"train", "test"}
    assert f"after epoch {figures['epoch']}" in latent_map["layout"]["title"]["text"]
    # coloured by the test labels: one legend entry per digit class among the first 150
    legend = {t.get("name") for t in latent_map["data"] if t.get("showlegend", True)}
    assert {str(c) for c in np.unique(y[1500:1650])} <= legend


def test_a_job_without_live_pictures_gets_none(digits):
    job = process_job(small_model(), digits, TrainConfig(epochs=1, batch_size=64)).start()
    job.join(120)
    assert job.progress().state == "done" and job.progress().figures is None


def test_stop_reaches_the_child_and_keeps_the_epochs_done(digits):
    job = process_job(small_model(), digits, TrainConfig(epochs=10_000)).start()
    wait_until(lambda: job.progress().epoch >= 1, what="the first epoch")
    before = {k: v.clone() for k, v in job.model.state_dict().items()}
    job.stop()
    assert job.join(60), "the job did not end after Stop"
    progress = job.progress()
    assert progress.state == "stopped" and "stopped by the user" in progress.message
    assert job.result.stopped_early and 1 <= len(job.result.history) < 10_000
    changed = [k for k, v in job.model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "the trained weights did not come back from the child"
    wait_until(lambda: gone(job.worker_pid), 20, "the child's exit")


def test_a_missing_heartbeat_stops_the_child(digits):
    clock = SimpleNamespace(now=0.0)
    job = process_job(small_model(), digits, TrainConfig(epochs=10_000),
                      heartbeat_timeout=15.0, clock=lambda: clock.now).start()  # fmt: skip
    wait_until(lambda: job.progress().epoch >= 1, what="the first epoch")
    clock.now = 16.0  # nobody polled for 16 s: the tab was closed
    assert job.join(60)
    assert job.progress().state == "stopped" and "no heartbeat" in job.stop_reason
    wait_until(lambda: gone(job.worker_pid), 20, "the child's exit")


def test_divergence_in_the_child_keeps_the_last_good_weights(digits):
    """lr 10 makes the loss non-finite in epoch 1: the weights from before it come back.
    (An unbounded posterior: the sigma bound alone keeps that run finite.)"""
    torch.manual_seed(0)
    model = VAE(
        ModelConfig(input_dim=64, image_shape=(8, 8), hidden=(32,), max_posterior_sigma=None)
    )
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    job = process_job(model, digits, TrainConfig(epochs=3, lr=10.0)).start()
    assert job.join(120)
    assert job.progress().state == "failed" and job.diverged
    assert "non-finite in epoch 1" in job.error
    assert job.result is not None and job.result.history == []
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, initial[name]), name


def test_an_error_in_the_child_is_one_message(digits):
    bad = SimpleNamespace(
        x_train=np.zeros((10, 5), np.float32), x_test=np.zeros((4, 5), np.float32)
    )
    job = process_job(small_model(), bad, TrainConfig(epochs=2)).start()
    assert job.join(120)
    assert job.progress().state == "failed" and not job.diverged
    assert job.error.startswith("RuntimeError: ")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_child_fails_the_job_and_frees_the_slot(digits):
    slots = own_slots()
    job = TrainingJob(small_model(), digits, TrainConfig(epochs=10_000), slots=slots,
                      runner="process").start()  # fmt: skip
    wait_until(lambda: job.progress().epoch >= 1, what="the first epoch")
    os.kill(job.worker_pid, signal.SIGKILL)
    assert job.join(30), "the job's thread did not notice the dead child"
    assert job.progress().state == "failed"
    assert "ended unexpectedly" in job.error and "-9" in job.error
    assert job.result is None  # nothing adopted: the model keeps its initial weights
    assert slots.acquire(timeout=1)  # the slot came back


PARENT = r"""
import sys, time, numpy as np
from types import SimpleNamespace
from vae import VAE, ModelConfig, TrainConfig
from runner.job import TrainingJob
x = np.random.default_rng(0).random((512, 16), dtype=np.float32)
job = TrainingJob(VAE(ModelConfig(input_dim=16, hidden=(16,))), SimpleNamespace(x_train=x,
                  x_test=x[:64]), TrainConfig(epochs=10_000), runner="process",
                  heartbeat_timeout=None).start()
while job.progress().epoch < 1:
    job.heartbeat()
    time.sleep(0.05)
print(job.worker_pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_child_dies_with_its_server(tmp_path: Path):
    """A server killed with SIGKILL runs no cleanup at all: the child sees its pipe close."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, env=env,
                              cwd=ROOT, text=True)  # fmt: skip
    try:
        child = int(parent.stdout.readline())
        assert not gone(child)
        parent.kill()
        parent.wait(10)
        wait_until(lambda: gone(child), 30, "the orphaned child's exit")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_closing_all_workers_ends_a_waiting_spare():
    prestart_worker()
    from runner import worker

    spare = worker._SPARE
    assert spare is not None and spare.alive
    close_all_workers()
    assert not spare.alive and worker._SPARE is None


# --- the pipe protocol ----------------------------------------------------------------------


def test_frames_round_trip_plain_data_and_arrays():
    stream = io.BytesIO()
    arrays = {
        "x": np.arange(12, dtype=np.float32).reshape(3, 4),
        "state/n": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 2), np.float64),
    }
    write_frame(stream, {"type": "epoch", "train": {"elbo": -1.5}}, arrays)
    write_frame(stream, {"type": "stop"})
    stream.seek(0)
    header, got = read_frame(stream)
    assert header == {"type": "epoch", "train": {"elbo": -1.5}}
    for name, array in arrays.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape
        np.testing.assert_array_equal(got[name], array)
    assert got["x"].flags.writeable  # torch.from_numpy needs no copy warning
    assert read_frame(stream) == ({"type": "stop"}, {})
    assert read_frame(stream) is None  # a clean end of file


def frame(header: dict, payload: bytes = b"") -> io.BytesIO:
    body = json.dumps(header).encode()
    return io.BytesIO(struct.pack(">I", len(body)) + body + payload)


@pytest.mark.parametrize(
    "stream",
    [
        frame({"type": "x", "arrays": [{"name": "a", "dtype": "object", "shape": [1]}]}),
        frame({"type": "x", "arrays": [{"name": "a", "dtype": "float32", "shape": [-1]}]}),
        frame({"type": "x", "arrays": [{"name": "a", "dtype": "float32", "shape": [2**41]}]}),
        frame({"type": "x", "arrays": [{"name": "a", "dtype": "float32", "shape": [4]}]}, b"1234"),
        frame({"type": "x"}),
        io.BytesIO(struct.pack(">I", 2**31) + b"{}"),
        io.BytesIO(struct.pack(">I", 10) + b"not json!!"),
        io.BytesIO(b"\x00\x00"),
    ],
    ids=[
        "pickle-dtype",
        "negative-shape",
        "huge-array",
        "truncated-array",
        "no-arrays",
        "huge-header",
        "not-json",
        "truncated-length",
    ],  # fmt: skip
)
def test_a_bad_frame_is_refused_before_anything_is_allocated(stream):
    with pytest.raises(ProtocolError):
        read_frame(stream)


def test_nothing_on_the_pipe_is_unpickled():
    """The protocol module never imports pickle or calls anything that unpickles."""
    source = (ROOT / "runner" / "worker.py").read_text() + (
        ROOT / "runner" / "frames.py"
    ).read_text()
    for word in ("import pickle", "pickle.load", "torch.load", "allow_pickle=True", "eval(",
                 "exec("):  # fmt: skip
        assert word not in source, word

"""TrainingJob: runs off-thread, stops on request or when the heartbeats stop, reports failures."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from runner.job import TrainingJob
from tests.conftest import FakeClock, small_model, wait_until
from vae import ModelConfig, TrainConfig
from vae.device import cpu_threads_per_job
from vae.metadata import training_metadata
from vae.train import EpochReport, history_record


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return SimpleNamespace(
        name="digits",
        x_train=x[:600],
        x_test=x[1500:1700],
        y_test=y[1500:1700],
        preprocessing={"scale": "divide by 16"},
    )


def own_slots() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(1)  # tests never compete with other tests' jobs


def test_job_trains_to_the_end_and_reports_every_epoch(digits):
    job = TrainingJob(small_model(), digits, TrainConfig(epochs=3), slots=own_slots()).start()
    assert job.join(60)
    progress = job.progress()
    assert progress.state == "done" and progress.finished
    assert progress.epoch == 3 and progress.fraction == 1.0
    assert [r.epoch for r in progress.reports] == [1, 2, 3]
    assert job.error is None and job.result is not None
    assert len(job.result.history) == 3 and not job.result.stopped_early
    # What the job rebuilds from reports (for the live curves, and after divergence) agrees
    # with the trainer's own history on every key it has.
    for report, record in zip(progress.reports, job.result.history, strict=True):
        rebuilt = history_record(report)
        assert {"epoch", "train_elbo", "test_elbo", "train_kl"} <= set(rebuilt)
        assert rebuilt == {k: record[k] for k in rebuilt}
    assert not job.model.training


def test_stop_ends_the_run_early_and_keeps_what_was_done(digits):
    job = TrainingJob(small_model(), digits, TrainConfig(epochs=10_000), slots=own_slots())
    job.start()
    wait_until(lambda: job.progress().epoch >= 1)
    job.stop()
    assert job.join(30)
    progress = job.progress()
    assert progress.state == "stopped"
    assert "stopped by the user" in progress.message
    assert job.result is not None and job.result.stopped_early
    assert 1 <= len(job.result.history) < 10_000


def test_missing_heartbeat_stops_the_job(digits):
    clock = FakeClock()
    job = TrainingJob(
        small_model(),
        digits,
        TrainConfig(epochs=10_000),
        heartbeat_timeout=15.0,
        slots=own_slots(),
        clock=clock,
    ).start()
    wait_until(lambda: job.progress().epoch >= 1)
    clock.now = 10.0
    job.heartbeat()  # a poll at t = 10 s keeps it alive ...
    clock.now = 24.0
    clock.read_again()  # the trainer has looked at its heartbeat since
    assert job.alive and not job.should_stop()
    clock.now = 26.0  # ... but 16 s of silence after it ends the run
    assert job.join(30)
    assert job.progress().state == "stopped"
    assert "no heartbeat" in job.stop_reason


def test_divergence_is_reported_and_the_last_good_weights_are_kept(digits):
    model = small_model()
    calls = {"n": 0}
    batches_per_epoch = -(-len(digits.x_train) // 128)

    def poison(module, inputs, output):
        # Every decoder output from the second epoch on is NaN: the loss goes non-finite.
        calls["n"] += 1
        return output * float("nan") if calls["n"] > batches_per_epoch + 1 else output

    model.decoder.register_forward_hook(poison)
    job = TrainingJob(model, digits, TrainConfig(epochs=5), slots=own_slots()).start()
    assert job.join(60)
    assert job.progress().state == "failed" and job.diverged
    assert "non-finite" in job.error and "epoch 2" in job.error
    assert len(job.result.history) == 1  # the one good epoch
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_an_unexpected_error_is_captured_not_raised(digits):
    bad = SimpleNamespace(
        x_train=np.zeros((10, 5), np.float32), x_test=np.zeros((4, 5), np.float32)
    )
    job = TrainingJob(small_model(), bad, TrainConfig(epochs=2), slots=own_slots()).start()
    assert job.join(30)
    assert job.progress().state == "failed" and not job.diverged
    assert job.error and "RuntimeError" in job.error


class CountedSlot(threading.BoundedSemaphore):
    """One training slot that counts the attempts to take it."""

    def __init__(self) -> None:
        super().__init__(1)
        self.attempts = 0

    def acquire(self, *args, **kwargs) -> bool:
        self.attempts += 1
        return super().acquire(*args, **kwargs)


def test_a_job_waits_for_a_free_slot_and_says_so(digits):
    slots = CountedSlot()
    slots.acquire()  # another job holds the only slot
    job = TrainingJob(small_model(), digits, TrainConfig(epochs=2), slots=slots).start()
    wait_until(lambda: slots.attempts >= 3, what="two failed tries for the slot")
    assert job.progress().state == "waiting"
    assert "waiting for a free training slot" in job.progress().message
    slots.release()
    assert job.join(60)
    assert job.progress().state == "done"


def test_a_waiting_job_can_be_stopped(digits):
    slots = own_slots()
    slots.acquire()
    job = TrainingJob(small_model(), digits, TrainConfig(epochs=2), slots=slots).start()
    job.stop()
    assert job.join(120)  # a deadline for a loaded machine, not a speed target
    assert job.progress().state == "stopped" and job.result is None
    slots.release()


def test_cpu_threads_leave_a_core_for_the_server():
    assert cpu_threads_per_job(1, jobs=2) == 1
    assert cpu_threads_per_job(2, jobs=2) == 1
    assert cpu_threads_per_job(16, jobs=2) == 7
    assert cpu_threads_per_job(16, jobs=1) == 15


def test_training_metadata_has_the_checkpoint_keys(digits):
    job = TrainingJob(small_model(), digits, TrainConfig(epochs=2), slots=own_slots()).start()
    assert job.join(60)
    meta = training_metadata("m", digits, job.model, job.config, job.result)
    assert set(meta) == {
        "name",
        "dataset",
        "preprocessing",
        "model_config",
        "train_config",
        "history",
        "test_metrics",
        "vae_version",
        "created",
        "device",
        "dataset_source",
        "dataset_file",
    }
    assert meta["dataset_source"] == "builtin" and meta["dataset_file"] is None
    uploaded = training_metadata(
        "m", digits, job.model, job.config, job.result, dataset_file="mine.csv"
    )
    assert uploaded["dataset_source"] == "upload" and uploaded["dataset_file"] == "mine.csv"
    assert meta["test_metrics"]["elbo"] == job.result.history[-1]["test_elbo"]
    assert ModelConfig.from_dict(meta["model_config"]) == job.model.config
    assert TrainConfig.from_dict(meta["train_config"]) == job.config
    assert meta["device"].startswith(("CPU", "CUDA", "MPS"))


def test_warm_up_runs_on_its_own_thread_without_touching_the_callers_threads():
    from vae.train import warm_up

    before = torch.get_num_threads()
    seconds: list[float] = []
    thread = threading.Thread(target=lambda: seconds.append(warm_up()))
    thread.start()
    thread.join(60)
    assert len(seconds) == 1 and seconds[0] > 0.0  # it finished, and trained for real
    assert torch.get_num_threads() == before  # torch's thread count is per thread


def test_the_elapsed_time_is_read_when_asked_not_when_an_epoch_ends(digits):
    """The Train page polls every second; before this, its "elapsed" moved only with the epochs
    (a Fashion-MNIST epoch: "0 s elapsed" for ~20 s)."""
    clock, slots = FakeClock(), own_slots()
    slots.acquire()  # hold the slot: the job waits, and waiting is not training time
    job = TrainingJob(small_model(), digits, TrainConfig(epochs=10_000), slots=slots,
                      clock=clock, heartbeat_timeout=None).start()  # fmt: skip
    clock.now = 5.0
    assert job.progress().state == "waiting" and job.progress().seconds == 0.0
    clock.now = 100.0
    slots.release()  # it starts at t = 100 (the fake clock stands still meanwhile)
    wait_until(lambda: job.progress().state == "running")
    for now in (100.5, 101.0, 104.0):
        clock.now = now
        assert job.progress().seconds == pytest.approx(now - 100.0)
    job.stop()
    assert job.join(30)
    clock.now = 150.0  # ended at t = 104: the counter stops there
    assert job.progress().seconds == pytest.approx(4.0)
    assert job.progress().eta_seconds == 0.0


def test_the_time_left_counts_down_between_epochs(digits):
    clock = FakeClock()
    job = TrainingJob(small_model(), digits, TrainConfig(epochs=10), clock=clock)
    assert job.progress().eta_seconds is None  # nothing to go by before the first epoch
    clock.now = 20.0
    job._on_epoch(EpochReport(epoch=1, epochs=10, train={"loss": 1.0}, test=None, kl_weight=1.0,
                              seconds=8.0, eta_seconds=72.0, snapshot=None))  # fmt: skip
    assert job.progress().eta_seconds == pytest.approx(72.0)
    clock.now = 23.0
    assert job.progress().eta_seconds == pytest.approx(69.0)
    clock.now = 200.0  # a slower epoch than the last: "0 s left", never negative
    assert job.progress().eta_seconds == 0.0

"""A training run off the script thread: stop, heartbeat, bounded concurrency, thread-safe progress.

No Streamlit: the app's page polls `progress()` from a fragment and calls `heartbeat()` each
time; when the heartbeats stop (the tab was closed) the job stops itself, so nothing trains
forever for nobody. A module-level semaphore bounds how many jobs train at once per process.

The training itself runs either on this job's thread (runner="thread", the default: simple,
in-process) or in a child process at a lower CPU priority (runner="process", what the app's
Train page uses: a thread's per-step Python holds the GIL and slows every other session; see
runner/worker.py). Both give the same progress, snapshots, Stop, heartbeat and
last-good-weights behaviour; the job's own thread then only relays the child's messages.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch

from vae.config import TrainConfig
from vae.device import MAX_CONCURRENT_JOBS, cpu_threads_per_job
from vae.model import VAE
from vae.train import (
    EpochReport,
    LatentSnapshot,
    TrainingDiverged,
    TrainResult,
    history_record,
    train,
)

# Imported here, not lazily: atexit runs handlers last-registered first, so this module's
# _stop_jobs_at_exit (registered below) runs before runner.worker closes its workers.
from .worker import Worker, close_all_workers, take_worker

JobState = Literal["waiting", "running", "done", "stopped", "failed"]
Runner = Literal["thread", "process"]

_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_JOBS)
_LIVE_JOBS: weakref.WeakSet[TrainingJob] = weakref.WeakSet()

# A page polls about twice a second; 15 s without a poll means nobody is watching any more.
HEARTBEAT_TIMEOUT_SECONDS = 15.0
# A training process asked to stop finishes its batch at once; one that has not exited after
# this long (stuck in a long evaluation, or hung) is killed.
STOP_GRACE_SECONDS = 20.0


class TrainingData(Protocol):
    """What a job needs from a dataset (vae.data.Dataset has these)."""

    x_train: np.ndarray  # (N, D)
    x_test: np.ndarray  # (M, D)


@dataclass(frozen=True)
class JobProgress:
    """A consistent snapshot of a job, safe to read from another thread."""

    state: JobState
    epoch: int  # epochs finished
    epochs: int
    seconds: float  # since the job got its slot, read now (0 while waiting; frozen at the end)
    eta_seconds: float | None  # the last epoch's estimate, counted down since it arrived
    reports: tuple[EpochReport, ...]  # every epoch so far, oldest first
    message: str  # one human sentence about the state
    # The live pictures a training process built (runner.live_figures): {"epoch", "map" (plotly
    # JSON or None), "curves" (plotly JSON)}; None for a job that does not build them.
    figures: dict | None = None

    @property
    def fraction(self) -> float:
        return self.epoch / self.epochs if self.epochs else 0.0

    @property
    def finished(self) -> bool:
        return self.state in ("done", "stopped", "failed")


class TrainingJob:
    """Train `model` on `data` with `config` on a daemon thread (or in a child process).

    job = TrainingJob(model, dataset, config).start(); poll job.progress() and job.heartbeat();
    job.stop() asks it to stop after the current batch. When finished, `result` holds the
    TrainResult (also after a stop: the epochs done so far) or `error` a human message;
    after divergence the model keeps the weights of the last good epoch and `diverged` is set.
    With runner="process" the model's weights are replaced once, when the child reports its
    result; until then `model` keeps its initial weights.
    """

    def __init__(
        self,
        model: VAE,
        data: TrainingData,
        config: TrainConfig,
        *,
        heartbeat_timeout: float | None = HEARTBEAT_TIMEOUT_SECONDS,
        slots: threading.Semaphore | None = None,
        clock: Callable[[], float] = time.monotonic,
        connected: Callable[[], bool] | None = None,
        runner: Runner = "thread",
        live_figures: bool = False,
    ) -> None:
        if runner not in ("thread", "process"):
            raise ValueError(f"runner must be 'thread' or 'process', not {runner!r}")
        self.model = model
        self.runner = runner
        # A process job builds the Train page's live pictures itself (runner/live_figures.py).
        self.live_figures = live_figures and runner == "process"
        self._figures: dict | None = None
        self.data = data
        self.config = config
        self.heartbeat_timeout = heartbeat_timeout
        self._slots = slots if slots is not None else _SLOTS
        self._clock = clock
        # Optional, cheap and thread-safe: is the page's connection still open? Under heavy
        # load a page's polls can queue for longer than the heartbeat timeout; an open
        # connection counts as a heartbeat, so only a page that is really gone stops the job.
        self._connected = connected
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vae-training", daemon=True)
        self._last_heartbeat = clock()
        self._state: JobState = "waiting"
        self._reports: list[EpochReport] = []
        # On the job's clock: when it got its slot, when it ended, when the last epoch arrived.
        self._started_at: float | None = None
        self._ended_at: float | None = None
        self._reported_at: float | None = None
        self._message = "waiting for a free training slot"
        self.result: TrainResult | None = None
        self.error: str | None = None
        self.diverged = False
        self.stop_reason: str | None = None
        self.worker_pid: int | None = None  # the child's process id (runner="process")

    # --- control (any thread) ---------------------------------------------------------------
    def start(self) -> TrainingJob:
        _LIVE_JOBS.add(self)
        self._thread.start()
        return self

    def stop(self, reason: str = "stopped by the user") -> None:
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self._stop.set()

    def heartbeat(self) -> None:
        """Someone is still watching: call this on every poll."""
        with self._lock:
            self._last_heartbeat = self._clock()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def should_stop(self) -> bool:
        """Polled by the trainer between batches: asked to stop, or nobody is watching."""
        if self._stop.is_set():
            return True
        if self.heartbeat_timeout is not None:
            if self._connected is not None and self._connected():
                self.heartbeat()
            with self._lock:
                silent = self._clock() - self._last_heartbeat
            if silent > self.heartbeat_timeout:
                self.stop(f"no heartbeat for {silent:.0f} s (the page was closed)")
                return True
        return False

    def progress(self) -> JobProgress:
        with self._lock:
            reports = tuple(self._reports)
            state, message, figures = self._state, self._message, self._figures
            started, ended, reported = self._started_at, self._ended_at, self._reported_at
        now = self._clock()
        last = reports[-1] if reports else None
        eta = None  # unknown before the first epoch; nothing is left once the job has ended
        if ended is not None:
            eta = 0.0
        elif last is not None and reported is not None:
            eta = max(0.0, last.eta_seconds - (now - reported))
        return JobProgress(
            state=state,
            epoch=last.epoch if last else 0,
            epochs=self.config.epochs,
            seconds=0.0 if started is None else (ended if ended is not None else now) - started,
            eta_seconds=eta,
            reports=reports,
            message=message,
            figures=figures,
        )

    # --- the worker thread ------------------------------------------------------------------
    def _set(self, state: JobState, message: str) -> None:
        with self._lock:
            self._state, self._message = state, message

    def _on_epoch(self, report: EpochReport) -> None:
        with self._lock:
            self._reports.append(report)
            self._reported_at = self._clock()
            self._message = f"epoch {report.epoch} of {report.epochs}"

    def _run(self) -> None:
        # Wait for a slot, but keep listening for stop and for the heartbeat while waiting.
        while not self._slots.acquire(timeout=0.1):
            if self.should_stop():
                self._set("stopped", f"stopped before it started ({self.stop_reason})")
                return
        with self._lock:
            self._started_at = self._clock()
        try:
            self._set("running", "starting")
            if self.runner == "process":
                self.result = self._train_in_child()
            else:
                torch.set_num_threads(cpu_threads_per_job())  # this thread only (see above)
                self.result = train(
                    self.model,
                    self.data.x_train,
                    self.data.x_test,
                    self.config,
                    on_epoch=self._on_epoch,
                    should_stop=self.should_stop,
                )
            if self.result.stopped_early:
                self._set(
                    "stopped",
                    f"stopped after {len(self.result.history)} epochs ({self.stop_reason})",
                )
            else:
                self._set(
                    "done", f"finished {self.config.epochs} epochs in {self.result.seconds:.1f} s"
                )
        except _Stopped:  # nothing came back: the model keeps its initial weights
            self._set("stopped", f"stopped before the first result ({self.stop_reason})")
        except _ChildFailed as error:
            self.error = str(error)
            self._set("failed", f"training failed: {self.error}")
        except TrainingDiverged as error:
            self.diverged = True
            self.error = str(error)
            self.result = self._partial_result()  # the good epochs, matching the kept weights
            self._set("failed", f"training diverged: {error}")
        except Exception as error:  # noqa: BLE001 - a worker must report, not vanish
            self.error = f"{type(error).__name__}: {error}"
            self._set("failed", f"training failed: {self.error}")
        finally:
            with self._lock:
                self._ended_at = self._clock()
            self.model.eval()
            self._slots.release()

    # --- runner="process": this thread relays the child's messages -------------------------
    def _train_in_child(self) -> TrainResult:
        """Train in a warm child process; returns its TrainResult or raises like train()."""
        worker = take_worker()
        self.worker_pid = worker.pid
        try:
            if not self._wait_until_ready(worker):
                worker.kill()
                return TrainResult(stopped_early=True, device="cpu")
            worker.send(self._job_message(), self._job_arrays())
            return self._relay(worker)
        finally:
            # Done means the child's last frame has arrived (20 of a 48 s digits run were the
            # child's exit, #18); the exit is waited for and reaped in the background.
            worker.close_in_background(timeout=STOP_GRACE_SECONDS)

    def _wait_until_ready(self, worker: Worker) -> bool:
        """Wait for the child's warm-up; False when stopped (or the child died) meanwhile."""
        if not worker.ready.is_set():
            self._set("running", "starting the training process")
        while not worker.ready.wait(0.1):
            if self.should_stop():
                return False
            if not worker.alive:
                raise RuntimeError(
                    f"the training process exited while starting (exit code {worker.process.poll()})"
                )
        return True

    def _job_message(self) -> dict:
        message = {
            "type": "job",
            "model_config": self.model.config.to_dict(),
            "train_config": self.config.to_dict(),
            "threads": cpu_threads_per_job(),
        }
        if self.live_figures:
            names = getattr(self.data, "class_names", None)
            message["live_figures"] = {
                "label_kind": getattr(self.data, "label_kind", None),
                "class_names": list(names) if names is not None else None,
            }
        return message

    def _job_arrays(self) -> dict[str, np.ndarray]:
        def plain(x) -> np.ndarray:  # (N, D) float32, as train() would make it
            x = x.detach().cpu().numpy() if torch.is_tensor(x) else x
            return np.asarray(x, dtype=np.float32)

        arrays = {"x_train": plain(self.data.x_train)}
        if self.data.x_test is not None:
            arrays["x_test"] = plain(self.data.x_test)
        for name, tensor in self.model.state_dict().items():
            arrays[f"state/{name}"] = tensor.detach().cpu().numpy()
        labels = getattr(self.data, "y_test", None)
        if self.live_figures and labels is not None:  # the snapshot's colours
            labels = np.asarray(labels)[: self.config.snapshot_size]
            arrays["labels"] = labels.astype(np.float64 if labels.dtype.kind == "f" else np.int64)
        return arrays

    def _relay(self, worker: Worker) -> TrainResult:
        """Pass the child's epochs on; forward Stop / a missing heartbeat; take its result."""
        stop_sent_at: float | None = None
        while True:
            # Checked on every message too: a fast run's epochs may arrive more often than the
            # receive timeout, and Stop must still get through.
            if stop_sent_at is None and self.should_stop():
                worker.send({"type": "stop"})
                stop_sent_at = time.monotonic()
            elif stop_sent_at is not None and time.monotonic() - stop_sent_at > STOP_GRACE_SECONDS:
                worker.kill()
            try:
                message = worker.receive(timeout=0.1)
            except queue.Empty:
                continue
            if message is None or message[0].get("type") == "broken":
                detail = message[0].get("message") if message else None
                code = worker.close(timeout=5.0)
                if stop_sent_at is not None or self._stop.is_set():
                    raise _Stopped()
                raise RuntimeError(
                    "the training process ended unexpectedly"
                    + (f" (exit code {code})" if code is not None else "")
                    + (f": {detail}" if detail else "")
                )
            header, arrays = message
            kind = header.get("type")
            if kind == "epoch":
                self._on_epoch(_epoch_report(header, arrays))
                if isinstance(header.get("figures"), dict):
                    with self._lock:
                        self._figures = header["figures"]
            elif kind == "done":
                self._load_weights(arrays, header.get("device", "cpu"))
                with self._lock:
                    snapshots = [r.snapshot for r in self._reports if r.snapshot is not None]
                return TrainResult(
                    history=[dict(h) for h in header["history"]],
                    snapshots=snapshots,
                    stopped_early=bool(header["stopped_early"]),
                    seconds=float(header["seconds"]),
                    device=str(header.get("device", "cpu")),
                )
            elif kind == "diverged":
                self._load_weights(arrays, str(self.model.device))
                raise TrainingDiverged(header.get("message", "the loss became non-finite"))
            elif kind == "failed":
                raise _ChildFailed(header.get("message", "unknown error"))

    def _load_weights(self, arrays: dict[str, np.ndarray], device: str) -> None:
        state = {
            name.removeprefix("state/"): torch.from_numpy(array)
            for name, array in arrays.items()
            if name.startswith("state/")
        }
        with torch.no_grad():
            self.model.load_state_dict(state)  # strict: every name and shape must match
        self.model.to(device)  # where the thread runner leaves it too

    def _partial_result(self) -> TrainResult:
        with self._lock:
            reports = list(self._reports)
        return TrainResult(
            history=[history_record(r) for r in reports],
            snapshots=[r.snapshot for r in reports if r.snapshot is not None],
            stopped_early=True,
            seconds=reports[-1].seconds if reports else 0.0,
            device=str(self.model.device),
        )


class _Stopped(Exception):
    """The training process went away after it was asked to stop, before it reported."""


class _ChildFailed(Exception):
    """The training process reported an error (its message is already 'Type: text')."""


def _epoch_report(header: dict, arrays: dict[str, np.ndarray]) -> EpochReport:
    """An EpochReport rebuilt from the child's plain-data message."""
    snapshot = None
    if header.get("snapshot_epoch") is not None and "mu" in arrays:
        snapshot = LatentSnapshot(int(header["snapshot_epoch"]), arrays["mu"], arrays["sigma"])
    return EpochReport(
        epoch=int(header["epoch"]),
        epochs=int(header["epochs"]),
        train={k: float(v) for k, v in header["train"].items()},
        test={k: float(v) for k, v in header["test"].items()} if header.get("test") else None,
        kl_weight=float(header["kl_weight"]),
        seconds=float(header["seconds"]),
        eta_seconds=float(header["eta_seconds"]),
        snapshot=snapshot,
    )


@atexit.register
def _stop_jobs_at_exit(timeout: float = 5.0) -> None:
    """Stop running jobs before the interpreter exits (e.g. the server got SIGTERM).

    A daemon thread still inside a torch op while the process tears down makes libtorch call
    std::terminate ("terminate called without an active exception", exit by SIGABRT).
    """
    jobs = [job for job in list(_LIVE_JOBS) if job.alive]
    for job in jobs:
        job.stop("the server is shutting down")
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.join(max(0.0, deadline - time.monotonic()))
    close_all_workers()  # a spare warm worker, and any child a job could not stop in time

"""Training in a child process: a warm worker and a framed pipe protocol with nothing pickled.

Why a process: a training thread's per-step Python holds the GIL, so every other session of the
server waits on it. Measured with bench/load_test.py (30 sessions clicking, 2 cores, load ~6):
click p50/p95 181/768 ms with a training thread in the server, 18/80 ms with the same training
in a separate process at nice 10, 32/181 ms with no training at all. The child runs at a lower
CPU priority, so the server's sessions come first and training gets what is left.

A worker is started ahead of time (`prestart_worker`): it imports torch and pays torch's
first-step costs (vae.train.warm_up) before a job arrives, then trains exactly one job and exits.

Messages are frames (runner/frames.py): a JSON header of plain data and raw arrays, never
pickled, so a bug or a hostile dataset in the child can never make the server run code. The
child stops when asked ("stop"), and also when its stdin reaches end of file: that happens when
the server process is gone, even after a SIGKILL, so no training outlives its server.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import queue
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from .frames import Arrays, ProtocolError, read_frame, write_frame

# Below the web server, so that sessions' clicks come first (0 = same as the server).
TRAIN_NICE = int(os.environ.get("VAE_EXPLORER_TRAIN_NICE", "10"))
_PROJECT_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


# --- the parent's side ------------------------------------------------------------------------
class Worker:
    """A child Python process that trains one job; talk to it with send() / receive()."""

    def __init__(self, nice: int = TRAIN_NICE) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runner.worker", "--nice", str(nice)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,  # the protocol; the child's own prints go to stderr
            cwd=_PROJECT_ROOT,
            env=env,
            bufsize=0,
            close_fds=True,  # only this server holds the pipe: its death is the child's EOF
        )
        self.ready = threading.Event()  # torch imported and warmed up
        self._messages: queue.Queue[tuple[dict, Arrays] | None] = queue.Queue()
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="vae-training-pipe", daemon=True)
        self._reader.start()
        _WORKERS.add(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self) -> None:
        try:
            while (frame := read_frame(self.process.stdout)) is not None:
                if frame[0].get("type") == "ready":
                    self.ready.set()
                else:
                    self._messages.put(frame)
        except (ProtocolError, OSError, ValueError) as error:
            self._messages.put(({"type": "broken", "message": str(error)}, {}))
        finally:
            self._messages.put(None)  # end of the conversation

    def send(self, header: dict, arrays: Arrays | None = None) -> bool:
        """False when the child has gone (a broken pipe is not an error here)."""
        try:
            with self._send_lock:
                write_frame(self.process.stdin, header, arrays)
            return True
        except (BrokenPipeError, OSError, ValueError):  # ValueError: the pipe was closed
            return False

    def receive(self, timeout: float) -> tuple[dict, Arrays] | None:
        """The next message; None once the child has closed its end. Raises queue.Empty."""
        return self._messages.get(timeout=timeout)

    def close(self, timeout: float = 5.0) -> int | None:
        """Close the child's stdin (it stops and exits), wait, then kill if it has not."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def close_in_background(self, timeout: float = 5.0) -> threading.Thread:
        """close() on a daemon thread: the job is over once the child has sent its last frame,
        and its exit (torch's teardown at the training priority: seconds on a busy machine) is
        waited for, and the process reaped, without anyone waiting on it."""
        thread = threading.Thread(
            target=self.close, args=(timeout,), name="vae-training-reap", daemon=True
        )
        thread.start()
        return thread

    def kill(self) -> int | None:
        self.process.kill()
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a zombie we cannot reap
            return None


def at_training_priority(work: Callable[[], T]) -> T:
    """work() on a fresh thread at the training process's CPU priority (TRAIN_NICE lower than
    this process), so that what it times is timed as a training would be on a busy machine.

    Linux sets the priority of one thread with the thread's id; a priority lowered without
    privileges cannot be raised again, so the thread ends with the work. Elsewhere work() runs
    on the fresh thread at this process's priority.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        if TRAIN_NICE and sys.platform.startswith("linux"):
            tid = threading.get_native_id()
            with contextlib.suppress(OSError):
                os.setpriority(
                    os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + TRAIN_NICE
                )
        try:
            outcome["value"] = work()
        except BaseException as error:  # noqa: BLE001 - re-raised on the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, name="vae-training-priority", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


_WORKERS: weakref.WeakSet[Worker] = weakref.WeakSet()
_SPARE: Worker | None = None
_SPARE_LOCK = threading.Lock()


def prestart_worker() -> None:
    """Have one warm worker waiting (idempotent): the next job starts without torch's import."""
    global _SPARE
    with _SPARE_LOCK:
        if _SPARE is None or not _SPARE.alive:
            _SPARE = Worker()


def spare_ready(timeout: float) -> bool:
    """Wait up to `timeout` seconds for the waiting worker's warm-up; False when there is none."""
    with _SPARE_LOCK:
        worker = _SPARE
    return worker is not None and worker.ready.wait(timeout)


def take_worker() -> Worker:
    """The waiting warm worker if there is one, else a new (cold) one."""
    global _SPARE
    with _SPARE_LOCK:
        worker, _SPARE = _SPARE, None
    if worker is None or not worker.alive:
        worker = Worker()
    return worker


@atexit.register
def close_all_workers(timeout: float = 3.0) -> None:
    """No child outlives the server: close every worker (runner.job stops jobs before this)."""
    global _SPARE
    with _SPARE_LOCK:
        _SPARE = None
    for worker in list(_WORKERS):
        if worker.alive:
            worker.close(timeout)


# --- the child's side -------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """`python -m runner.worker`: warm up, train the one job that arrives, report, exit."""
    parser = argparse.ArgumentParser(description="vae-explorer training worker (internal)")
    parser.add_argument("--nice", type=int, default=TRAIN_NICE)
    args = parser.parse_args(argv)
    # The protocol owns the original stdin/stdout; fd 1 becomes stderr so that a stray print
    # (ours or a library's) cannot corrupt a frame.
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    from vae.train import warm_up

    warm_up()
    from . import live_figures  # noqa: F401 - plotly's import (~1 s) before a job waits on it

    write_frame(proto_out, {"type": "ready", "pid": os.getpid()})
    frame = read_frame(proto_in)
    if frame is None or frame[0].get("type") != "job":
        return 0  # the server closed us before giving a job: nothing to do
    # The warm-up above ran at the server's priority (a one-off ~2 s of CPU that someone may be
    # waiting for); the training itself gives way to the server's sessions.
    if args.nice and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(args.nice)
    return _run_job(frame[0], frame[1], proto_in, proto_out)


def _run_job(header: dict, arrays: Arrays, proto_in: BinaryIO, proto_out: BinaryIO) -> int:
    import torch

    from vae.config import ModelConfig, TrainConfig
    from vae.model import VAE
    from vae.train import EpochReport, LatentSnapshot, TrainingDiverged, history_record, train

    from .live_figures import LiveFigureBuilder

    stop = threading.Event()

    def listen() -> None:  # "stop", or end of file: the server stopped us or is gone
        try:
            while (message := read_frame(proto_in)) is not None:
                if message[0].get("type") == "stop":
                    stop.set()
        except (ProtocolError, OSError):
            pass
        stop.set()

    threading.Thread(target=listen, name="vae-training-listen", daemon=True).start()

    def send(message: dict, payload: Arrays | None = None) -> None:
        try:
            write_frame(proto_out, message, payload)
        except (BrokenPipeError, OSError):
            stop.set()  # nobody is listening any more

    # The Train page's pictures, built here rather than in the server (see runner/live_figures.py).
    live = header.get("live_figures")
    builder = None
    if isinstance(live, dict):
        builder = LiveFigureBuilder(arrays.get("labels"), live.get("label_kind"),
                                    live.get("class_names"))  # fmt: skip
    history: list[dict] = []
    latest: LatentSnapshot | None = None  # the last snapshot so far

    def on_epoch(report: EpochReport) -> None:
        nonlocal latest
        payload = {}
        if report.snapshot is not None:
            payload = {"mu": report.snapshot.mu, "sigma": report.snapshot.sigma}
        figures = None
        if builder is not None:
            history.append(history_record(report))
            latest = report.snapshot or latest
            figures = builder.update(history, latest)
        send(
            {
                "type": "epoch",
                "epoch": report.epoch,
                "epochs": report.epochs,
                "train": report.train,
                "test": report.test,
                "kl_weight": report.kl_weight,
                "seconds": report.seconds,
                "eta_seconds": report.eta_seconds,
                "snapshot_epoch": report.snapshot.epoch if report.snapshot else None,
                "figures": figures,
            },
            payload,
        )

    def weights(model: torch.nn.Module) -> Arrays:
        return {f"state/{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}

    try:
        torch.set_num_threads(max(1, int(header.get("threads", 1))))
        model = VAE(ModelConfig.from_dict(header["model_config"]))
        model.load_state_dict(
            {k.removeprefix("state/"): torch.from_numpy(v) for k, v in arrays.items()
             if k.startswith("state/")}
        )  # fmt: skip
        config = TrainConfig.from_dict(header["train_config"])
        result = train(model, arrays["x_train"], arrays.get("x_test"), config,
                       on_epoch=on_epoch, should_stop=stop.is_set)  # fmt: skip
    except TrainingDiverged as error:
        send({"type": "diverged", "message": str(error)}, weights(model))
        return 0
    except Exception as error:  # noqa: BLE001 - reported to the server as one sentence
        send({"type": "failed", "message": f"{type(error).__name__}: {error}"})
        return 1
    send(
        {
            "type": "done",
            "history": result.history,
            "stopped_early": result.stopped_early,
            "seconds": result.seconds,
            "device": result.device,
        },
        weights(model),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

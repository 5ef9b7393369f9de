"""Training glue: start a background TrainingJob, follow it, and turn its result into the active model.

The job itself (runner/job.py) knows nothing of Streamlit; this module keeps the session's run
in st.session_state["vx_train_run"] and hands a finished model to ui.active_model.set_active_model.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace

import streamlit as st

from runner.job import JobProgress, Runner, TrainingJob
from runner.live_figures import build_seconds, training_throttle
from runner.worker import at_training_priority
from vae import VAE, ModelConfig, TrainConfig
from vae.data import Dataset
from vae.device import cpu_threads, cpu_threads_per_job
from vae.metadata import training_metadata
from vae.scoring import not_a_likelihood
from vae.train import warm_up

from .active_model import ActiveModel, new_model_key, set_active_model
from .script_thread import fragment
from .session_keys import TRAIN_RUN_KEY
from .text import plain

_LOG = logging.getLogger(__name__)

# Home's quick start (bench/quick_start.py, 1,497 digits, one thread): 20 epochs at a peak lr
# of 8e-3 (cosine decay), ~1 s of CPU. On binarised digits (#18) the KL term at full weight from
# the first step cost the map 0.07 of 5-NN accuracy against grey levels (0.600 +- 0.050 vs
# 0.668 +- 0.022, 5 seeds); a 5-epoch KL warm-up wins half of it back at the same CPU time
# (0.634 +- 0.020, test ELBO -24.98 vs -25.19), as 30 epochs at 3e-3 do at 1.5x the time.
QUICK_START_MODEL = {"hidden": (256, 128)}
QUICK_START_TRAIN = TrainConfig(epochs=20, batch_size=128, lr=8e-3, warmup_epochs=5, seed=0)


@dataclass
class TrainRun:
    """One training run of this session: the job and what it was asked to do."""

    job: TrainingJob
    dataset: Dataset
    name: str  # the default name for the model
    dataset_file: str | None = None  # the uploaded file's name, None for built-in data
    started: float = field(default_factory=time.time)
    active_key: str | None = None  # set once the result became the active model
    estimate_seconds: float | None = None  # what the page promised before Start
    outcome: str | None = None  # the message shown once it ended


@st.cache_resource(show_spinner=False)
def start_warm_up() -> threading.Thread:
    """Once per server, off the script thread: what the quick start pays the first time.

    Measured cold (CPU seconds, 2-core EPYC): importing sklearn for digits ~1.3-1.8, torch's
    first optimiser (it imports torch._dynamo) ~1.2-1.7. Home starts this after its content
    is on its way to the browser: the imports hold the GIL, so started earlier they would slow
    down the page the user is waiting for.
    """

    def work() -> None:
        try:
            from vae.data import load_dataset

            start = time.perf_counter()
            # Not ui.loaders.cached_dataset (Streamlit's cache wants a script thread): this is for
            # the imports (sklearn), after which the page's own load of digits takes ~30 ms.
            load_dataset("digits")
            seconds = warm_up()
            _LOG.info("warm-up done in %.1f s (torch %.1f s)", time.perf_counter() - start, seconds)
        except Exception:  # a failed warm-up only costs time later  # noqa: BLE001
            _LOG.exception("warm-up failed")

    thread = threading.Thread(target=work, name="vae-warm-up", daemon=True)
    thread.start()
    return thread


def default_model_name(dataset_name: str) -> str:
    """e.g. 'digits-2026-11-21-0130': safe for vae.library and sortable."""
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in dataset_name)[:40] or "model"
    return f"{stem}-{dt.datetime.now().strftime('%Y-%m-%d-%H%M%S')}"


def model_config_for(dataset: Dataset, **overrides) -> ModelConfig:
    """A ModelConfig whose input matches the dataset; raises vae.ConfigError on bad choices."""
    values = {
        "input_dim": int(dataset.x_train.shape[1]),
        "image_shape": dataset.image_shape,
        "likelihood": dataset.likelihood,
        **overrides,
    }
    return ModelConfig(**values)


# The probe measures the machine at its present load: a timing older than this is taken again.
PROBE_TTL_SECONDS = 120


@st.cache_resource(show_spinner="Timing a few training steps…", max_entries=64,
                   ttl=PROBE_TTL_SECONDS)  # fmt: skip
def _run_timing(data_key: tuple, configs_json: str, runner: Runner | None, _x, _model_config,
                _train_config, snapshot: int, label_kind: str | None):  # fmt: skip
    """(StepTiming, seconds of one live-picture rebuild or 0), measured as the run will train:

    - runner "process": in a thread at the training process's priority (runner.worker), with
      its thread count, timing one rebuild of the pictures that process builds;
    - runner "thread": on a job thread's thread count, at this process's priority;
    - None: a quick training in the page (vae.recipes), on one thread.
    """
    from vae.estimate import probe_step_timing

    del data_key, configs_json  # the cache key
    threads = 1 if runner is None else cpu_threads_per_job()

    def measure():
        with cpu_threads(threads):
            timing = probe_step_timing(_model_config, _x, _train_config)
            rebuild = build_seconds(snapshot, _train_config.epochs, label_kind) if snapshot else 0.0
        return timing, rebuild

    return at_training_priority(measure) if runner == "process" else measure()


def estimate_run_seconds(
    dataset: Dataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    max_train: int | None = None,
    runner: Runner | None = None,
) -> float:
    """Seconds a run of these settings should take on this machine (vae/estimate.py).

    `runner` as in start_run (the Train page), or None for a quick training in the page.
    """
    n_train = len(dataset.x_train) if max_train is None else min(max_train, len(dataset.x_train))
    n_test = len(dataset.x_test)
    snapshot = min(train_config.snapshot_size, n_test) if train_config.snapshot_latents else 0
    data_key = (dataset.name, dataset.x_train.shape, dataset.x_test.shape)
    # Epochs only scale the timing (and the curves' length, a small share of a rebuild).
    configs = {"model": model_config.to_dict(), "train": replace(train_config, epochs=1).to_dict()}
    timing, rebuild = _run_timing(
        data_key, json.dumps(configs, sort_keys=True), runner, dataset.x_train[:4096],
        model_config, train_config, snapshot if runner == "process" else 0, dataset.label_kind,
    )  # fmt: skip
    seconds = timing.run_seconds(n_train, n_test, train_config.epochs, train_config.batch_size,
                                 snapshot)  # fmt: skip
    if rebuild:  # the training process builds the live pictures between its epochs
        seconds += training_throttle().added_seconds(seconds, train_config.epochs, rebuild)
    return seconds


def about(seconds: float) -> str:
    """'about 40 s', 'about 3 min': an estimate, said as one."""
    if seconds < 10:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90:
        return f"about {round(seconds, -1):.0f} s"
    return f"about {round(seconds / 60):.0f} min"


def describe_settings(data: str, model_config: ModelConfig, train_config: TrainConfig) -> str:
    """One line naming everything a run was asked to do, as the Train form names it."""
    net = "Conv" if model_config.architecture == "conv" else "MLP"
    widths = ", ".join(map(str, model_config.hidden))
    likelihood = model_config.likelihood
    if likelihood == "bernoulli":
        binarized = train_config.for_model(model_config).dynamic_binarization
        likelihood += " (binarised)" if binarized else " on grey levels"
    return (
        f"{data} · {net} {widths} · {likelihood} · β {train_config.beta:g} · "
        f"warm-up {train_config.warmup_epochs} · {train_config.epochs} epochs · "
        f"batch {train_config.batch_size} · lr {train_config.lr:g} · seed {train_config.seed}"
    )


def run_settings(run: TrainRun) -> str:
    """describe_settings() of the run's own configs: what its results came from."""
    return describe_settings(run.dataset_file or run.dataset.name, run.job.model.config,
                             run.job.config)  # fmt: skip


def run_likelihood_note(run: TrainRun) -> str | None:
    """vae.scoring's note for the run's numbers (its test ELBO curve), or None when they are
    log-likelihoods; a Bernoulli model of binary data trained without binarisation is one."""
    model_config = run.job.model.config
    configs = {
        "model_config": model_config.to_dict(),
        "train_config": run.job.config.for_model(model_config).to_dict(),
    }
    return not_a_likelihood(configs, run.dataset.x_test)


def start_run(
    dataset: Dataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    dataset_file: str | None = None,
    runner: Runner = "thread",
    estimate_seconds: float | None = None,
) -> TrainRun:
    """Stop this session's previous run, then start a new job for this session.

    runner="process" trains in a child process (the Train page: long runs must not hold the
    GIL that every other session needs); "thread" keeps it in this process.
    """
    stop_run()
    model = VAE(model_config)
    job = TrainingJob(
        model, dataset, train_config, connected=_session_connected(), runner=runner,
        live_figures=True,  # a training process builds the Train page's pictures itself
    ).start()  # fmt: skip
    run = TrainRun(
        job=job,
        dataset=dataset,
        name=default_model_name(dataset.name),
        dataset_file=dataset_file,
        estimate_seconds=estimate_seconds,
    )
    st.session_state[TRAIN_RUN_KEY] = run
    return run


def _session_connected():
    """A thread-safe probe: is this browser session still connected? None outside a server."""
    from streamlit.runtime import exists, get_instance
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not exists():
        return None
    runtime, session_id = get_instance(), ctx.session_id
    return lambda: runtime.is_active_session(session_id)


def get_run() -> TrainRun | None:
    return st.session_state.get(TRAIN_RUN_KEY)


def stop_run() -> None:
    run = get_run()
    if run is not None and run.job.alive:
        run.job.stop()


def poll(run: TrainRun) -> JobProgress:
    """The job's progress; also the heartbeat that keeps it alive while the page is open."""
    run.job.heartbeat()
    return run.job.progress()


def adopt_result(run: TrainRun) -> ActiveModel | None:
    """Once the job has ended: make its model the active one (if any epoch finished).

    Returns the new ActiveModel the first time, None when there is nothing (new) to adopt.
    A diverged run keeps the weights of its last good epoch, so those are adopted too.
    """
    job = run.job
    if job.alive or run.active_key is not None:
        return None
    progress = job.progress()
    run.outcome = progress.message
    if job.result is None or not job.result.history:
        return None
    metadata = training_metadata(
        run.name, run.dataset, job.model, job.config, job.result,
        dataset_file=run.dataset_file,
    )  # fmt: skip
    active = ActiveModel(
        key=new_model_key(),
        name=run.name,
        model=job.model,
        metadata=metadata,
        dataset=run.dataset,
        source="session",
    )
    set_active_model(active)
    run.active_key = active.key
    return active


def train_blocking(
    dataset: Dataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    progress_bar=None,
) -> ActiveModel:
    """Train to the end on the job thread while this script waits (Home's quick start).

    Using the job keeps the server-wide limit on concurrent training and the CPU thread policy.
    Raises RuntimeError with the job's message if no model came out of it.
    """
    run = start_run(dataset, model_config, train_config)
    while not run.job.join(timeout=0.25):  # a few redraws a second are plenty
        progress = poll(run)
        if progress_bar is not None:
            text = (
                progress.message
                if progress.state == "waiting"
                else (f"Training on {dataset.name}: epoch {progress.epoch} of {progress.epochs}")
            )
            progress_bar.progress(progress.fraction, text=text)
    active = adopt_result(run)
    if active is None:
        raise RuntimeError(run.outcome or "training produced no model")
    return active


def show_training_status(current_page_title: str) -> None:
    """A small live progress bar in the sidebar of every page but Train while a job runs.

    Its polling is also the job's heartbeat, so a run goes on while the user reads another
    page, and stops by itself only when the tab is closed.
    """
    run = get_run()
    if current_page_title == "Train" or run is None or run.active_key is not None:
        return
    alive = run.job.alive

    def panel() -> None:
        progress = poll(run)
        if progress.finished:
            st.caption(f"Training {plain(progress.message)}.")
            st.page_link("pages/train.py", label="See the result", icon=":material/done:")
            if alive:  # this fragment was polling: one full rerun turns the polling off
                st.rerun()
        elif progress.state == "waiting":
            st.progress(0.0, text=progress.message)
        else:
            st.progress(
                progress.fraction,
                text=f"Training {run.dataset.name}: epoch {progress.epoch}/{progress.epochs}",
            )

    with st.sidebar:
        fragment(panel, run_every=1.0 if alive else None)()

"""Train: pick data and settings, watch the losses and the bubbles move every epoch, save."""

from __future__ import annotations

import os

import streamlit as st

from runner.live_figures import snapshot_bubbles
from runner.sandbox import parse_upload
from runner.worker import prestart_worker
from ui import presenter
from ui.active_model import get_active_model, set_active_model, unsaved_models
from ui.app_entry import ensure_app_entry
from ui.badge import current_device_label
from ui.components.map_layer import map_layer
from ui.form_memory import forget, recall, recalled, remember
from ui.live_pictures import live_pictures, shown_snapshot
from ui.loaders import cached_dataset
from ui.models import save_active_model_form
from ui.script_thread import fragment
from ui.session_keys import TRAIN_LOAD_FAILURES_KEY, TRAIN_UPLOAD_KEY
from ui.text import plain
from ui.training import (
    about,
    adopt_result,
    describe_settings,
    estimate_run_seconds,
    get_run,
    model_config_for,
    poll,
    run_likelihood_note,
    run_settings,
    start_run,
    stop_run,
)
from vae import ConfigError, TrainConfig
from vae.data import USER_DATA_SUFFIXES, DataError, Dataset
from vae.train import history_record

POLL_SECONDS = 1.0  # how often the live panel asks for news (each poll re-sends its figures)
# "process" (default): train in a child process at a lower priority, so that the GIL stays free
# for every other session (bench/load_test.py --runner compares); "thread": in this process.
RUNNER = "thread" if os.environ.get("VAE_EXPLORER_TRAIN_RUNNER") == "thread" else "process"
UPLOAD = "upload"
DATASET_LABELS = {
    "digits": "digits — 8×8, built in",
    "mnist": "MNIST — 28×28 handwritten digits",
    "fashion-mnist": "Fashion-MNIST — 28×28 clothes",
    "swiss-roll": "Swiss roll — 3-D toy manifold",
    "s-curve": "S-curve — 3-D toy manifold",
    UPLOAD: "Upload your own (.npz, .npy, .csv, .zip of images)",
}
# Per-dataset starting points: small data wants small nets and more epochs.
DEFAULTS = {
    "digits": {"hidden": "256, 128", "epochs": 30, "batch": 128, "lr": 3e-3},  # = quick start
    "mnist": {"hidden": "512, 256", "epochs": 20, "batch": 128, "lr": 1e-3},
    "fashion-mnist": {"hidden": "512, 256", "epochs": 20, "batch": 128, "lr": 1e-3},
    "swiss-roll": {"hidden": "128, 128", "epochs": 60, "batch": 128, "lr": 1e-3},
    "s-curve": {"hidden": "128, 128", "epochs": 60, "batch": 128, "lr": 1e-3},
    UPLOAD: {"hidden": "256, 128", "epochs": 30, "batch": 128, "lr": 1e-3},
}

ensure_app_entry()  # a deep link on a cold server must still go through app.py


SETTING_DEFAULTS = {
    "train_dataset": "digits",
    "train_architecture": "mlp",
    "train_hidden": DEFAULTS["digits"]["hidden"],
    "train_epochs": DEFAULTS["digits"]["epochs"],
    "train_batch": DEFAULTS["digits"]["batch"],
    "train_lr": DEFAULTS["digits"]["lr"],
    "train_beta": 1.0,
    "train_warmup": 0,
    "train_seed": 0,
    "train_binarize": TrainConfig().dynamic_binarization,  # the config owns the default
}
# Every setting of the form; the likelihood's default follows the data (see below).
SETTING_KEYS = (*SETTING_DEFAULTS, "train_likelihood")


def apply_defaults() -> None:
    """When the dataset changes, reset the settings that depend on it."""
    if st.session_state["train_dataset"] == recalled("train_dataset"):
        # Streamlit also calls this when the selectbox is redrawn disabled (Start locks the
        # form): the dataset is the same, and the user's settings must stay.
        return
    choice = DEFAULTS[st.session_state["train_dataset"]]
    st.session_state["train_hidden"] = choice["hidden"]
    st.session_state["train_epochs"] = choice["epochs"]
    st.session_state["train_batch"] = choice["batch"]
    st.session_state["train_lr"] = choice["lr"]
    forget("train_likelihood")  # follow the new dataset's suggestion
    remember(*SETTING_KEYS)


def kept(key: str) -> dict:
    """A setting widget's key, remembered on every change (see ui/form_memory.py)."""
    return {"key": key, "on_change": remember, "args": (key,)}


for key, value in SETTING_DEFAULTS.items():
    recall(key, value)  # a visit to another page must not reset the form


def load_data(choice: str) -> Dataset | None:
    """The chosen dataset, or None (with the reason shown) when it cannot be had."""
    if choice != UPLOAD:
        # A failed load (e.g. MNIST offline) is remembered for this session: otherwise every
        # rerun of this page would retry the download and wait for its timeout again.
        failures = st.session_state[TRAIN_LOAD_FAILURES_KEY]
        if choice not in failures:
            try:
                return cached_dataset(choice)
            except DataError as error:
                failures[choice] = str(error)
        st.error(f"Cannot load {plain(choice)}: {plain(failures[choice])}")
        if st.button("Try again", key="train_data_retry", icon=":material/refresh:"):
            failures.pop(choice, None)
            st.rerun()
        return None
    upload = st.file_uploader(
        "Your data", type=list(USER_DATA_SUFFIXES), key="train_upload",
        help="Rows are examples. .npz with x (and y), .npy, .csv with an optional label column, "
        "or a .zip of images in one folder per class.",
    )  # fmt: skip
    cached = st.session_state.get(TRAIN_UPLOAD_KEY)
    if upload is None:
        # The uploader comes back empty after a visit to another page: keep the parsed file.
        if cached is None:
            return None
        st.caption(f"Using **{plain(cached[2])}**, uploaded earlier. Upload a file to replace it.")
        if st.button("Forget this file", key="train_upload_forget", icon=":material/close:"):
            st.session_state[TRAIN_UPLOAD_KEY] = None
            st.rerun()
        return cached[1]
    if cached is not None and cached[0] == upload.file_id:
        return cached[1]
    try:
        dataset = parse_upload(upload.getvalue(), upload.name)  # in a limited child process
    except DataError as error:
        st.error(f"Cannot use {plain(upload.name)}: {plain(error)}")
        return None
    st.session_state[TRAIN_UPLOAD_KEY] = (upload.file_id, dataset, upload.name)
    forget("train_likelihood")
    return dataset


def parse_widths(text: str) -> tuple[int, ...]:
    if len(text) > 100:  # a few widths; a pasted essay would be echoed back in the error
        raise ConfigError("layer widths are a few numbers separated by commas, e.g. 256, 128")
    try:
        widths = tuple(int(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"layer widths must be whole numbers separated by commas: {text!r}"
        ) from None
    if not widths:
        raise ConfigError("give at least one layer width, e.g. 256, 128")
    return widths


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


st.title("Train")
run = get_run()
running = run is not None and run.job.alive

# While a run trains, its settings are locked and named above the map: folded away, so that
# the live map is on the first screen (1400 x 900 and smaller).
settings_box = (
    st.expander("Settings (locked while training)", icon=":material/tune:")
    if running
    else st.container()
)
with settings_box:
    data_col, model_col, train_col = st.columns(3, gap="medium")
    with data_col:
        st.subheader("Data")
        choice = st.selectbox(
            "Dataset", list(DATASET_LABELS), format_func=DATASET_LABELS.get, key="train_dataset",
            on_change=apply_defaults, disabled=running,
        )  # fmt: skip
        dataset = load_data(choice)
        if dataset is not None:
            shape = (
                "×".join(f"{n:d}" for n in dataset.image_shape)
                if dataset.image_shape
                else "vectors"
            )
            st.caption(
                f"{plain(dataset.description)}  \n{dataset.x_train.shape[1]:d} values per example ({shape})."
            )
    with model_col:
        st.subheader("Model")
        conv_ok = dataset is not None and dataset.image_shape == (28, 28)
        architecture = st.radio(
            "Architecture", ["mlp", "conv"], horizontal=True, **kept("train_architecture"),
            format_func={"mlp": "MLP", "conv": "Conv (28×28 images)"}.get, disabled=running,
        )  # fmt: skip
        if architecture == "conv" and not conv_ok:
            st.caption("The conv net is for 28×28 images: the MLP will be used.")
            architecture = "mlp"
        hidden_text = st.text_input(
            "Hidden layer widths", **kept("train_hidden"), disabled=running,
            help="Encoder widths, e.g. 512, 256; the decoder mirrors them. Conv uses the last one.",
        )  # fmt: skip
        likelihoods = ["bernoulli", "gaussian"]
        recall("train_likelihood", dataset.likelihood if dataset is not None else "bernoulli")
        likelihood = st.selectbox(
            "Likelihood p(x|z)", likelihoods, **kept("train_likelihood"), disabled=running,
            help="Bernoulli for pixel intensities in [0, 1]; Gaussian (learned σ) for other data.",
        )  # fmt: skip
        binarize = st.checkbox(
            "Binarise dynamically", **kept("train_binarize"),
            disabled=running or likelihood != "bernoulli",
            help="Train on a fresh black-and-white draw x ~ Bernoulli(pixel) each time an image is "
            "used, and score the test set over such draws: a Bernoulli p(x|z) is a distribution "
            "over binary images, so only then are its ELBO and log p(x) log-likelihoods (the "
            "literature's protocol). Bernoulli likelihood only.",
        )  # fmt: skip
        beta = st.number_input(
            "β (weight of the KL term)", min_value=0.0, max_value=100.0, step=0.5, **kept("train_beta"),
            disabled=running, help="1 is the true ELBO; β > 1 pulls bubbles towards the prior.",
        )  # fmt: skip
        warmup = st.number_input(
            "KL warm-up epochs", min_value=0, max_value=1000, step=1, **kept("train_warmup"),
            disabled=running, help="The KL weight grows linearly from 0 to β over these epochs.",
        )  # fmt: skip
    with train_col:
        st.subheader("Training")
        epochs = st.number_input(
            "Epochs", 1, 1000, step=5, **kept("train_epochs"), disabled=running
        )
        batch = st.select_slider(
            "Batch size", [16, 32, 64, 128, 256, 512, 1024], **kept("train_batch"), disabled=running
        )
        lr = st.select_slider(
            "Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], **kept("train_lr"),
            format_func=lambda v: f"{v:g}", disabled=running,
        )  # fmt: skip
        seed = st.number_input("Seed", 0, 2**31 - 1, step=1, **kept("train_seed"), disabled=running)
        st.caption(f"Runs on **{plain(current_device_label())}**.")
remember(*SETTING_KEYS)  # also on each change (on_change): a click on another page comes next

start_col, stop_col, _ = st.columns([1, 1, 4])
start = start_col.button(
    "Start", type="primary", key="train_start", icon=":material/play_arrow:",
    disabled=running or dataset is None, width="stretch",
)  # fmt: skip
stop = stop_col.button(
    "Stop", key="train_stop", icon=":material/stop:", disabled=not running, width="stretch"
)
if stop:
    stop_run()
form_configs, config_error = None, None
if dataset is not None:
    try:
        form_configs = (
            model_config_for(
                dataset,
                architecture=architecture,
                hidden=parse_widths(hidden_text),
                likelihood=likelihood,
            ),
            TrainConfig(
                epochs=int(epochs), batch_size=int(batch), lr=float(lr), beta=float(beta),
                warmup_epochs=int(warmup), seed=int(seed), device="auto",
                dynamic_binarization=bool(binarize),
            ),
        )  # fmt: skip
    except ConfigError as error:
        config_error = str(error)
upload = st.session_state.get(TRAIN_UPLOAD_KEY) if choice == UPLOAD else None
form_data = upload[2] if upload else choice
estimate = None
if form_configs is not None and not running:
    estimate = estimate_run_seconds(dataset, *form_configs, runner=RUNNER)
    steps = -(-len(dataset.x_train) // form_configs[1].batch_size)
    st.caption(
        f"Estimated: **{about(estimate)}** on {plain(current_device_label())} at its present load "
        f"({form_configs[1].epochs:d} epochs × {steps:d} steps, timed just now at the training's "
        "priority, plus a test pass and the live pictures after each epoch). A busier machine "
        "later makes it longer."
    )
if not running and RUNNER == "process":
    # Training runs in a child process (it would hold the GIL that every session's clicks
    # need); one is started now, while the user reads the estimate, so Start does not wait for
    # torch's import in it. After the estimate: its start-up would slow the timed steps down.
    prestart_worker()
if start and config_error is not None:
    st.error(f"Cannot train with these settings: {plain(config_error)}")
elif start and form_configs is not None:
    start_run(dataset, *form_configs, dataset_file=upload[2] if upload else None, runner=RUNNER,
              estimate_seconds=estimate)  # fmt: skip
    st.rerun()  # redraw with the settings locked and the live panel polling


def live_panel() -> None:
    """Progress, the latent map and the loss curves; polls the job while it runs.

    While training, the map shows the latest epoch; afterwards a slider replays the map epoch
    by epoch (inside this fragment, so dragging it redraws only this panel).
    """
    run = get_run()
    if run is None:
        st.info("Choose data and settings, then press **Start**. Training runs in the background.")
        return
    progress = poll(run)
    eta = progress.eta_seconds  # from the epochs done; before the first, the page's estimate
    if eta is None and run.estimate_seconds is not None:
        eta = max(0.0, run.estimate_seconds - (progress.seconds or 0.0))
    if progress.state == "waiting":
        st.progress(0.0, text=f"⏳ {progress.message} (other sessions are training)")
    else:
        text = (
            f"epoch {progress.epoch} of {progress.epochs} · {format_seconds(progress.seconds)} "
            f"elapsed · about {format_seconds(eta)} left"
            if not progress.finished
            else progress.message
        )
        st.progress(progress.fraction, text=text)
    settings = run_settings(run)
    if not run.job.alive and form_configs is not None:
        asked = describe_settings(form_data, *form_configs)
        if asked != settings:
            st.caption(
                f"The settings above ({plain(asked)}) are not these: **Start** trains with them."
            )
    history = [history_record(r) for r in progress.reports]  # the curves need the core keys
    snapshots = [r.snapshot for r in progress.reports if r.snapshot is not None]
    latent, curves = st.columns(2, gap="medium")
    snap = snapshots[-1] if snapshots else None
    with latent:
        if run.active_key is not None and len(snapshots) > 1:
            epoch = st.slider(
                "Replay: watch the bubbles form", 1, len(snapshots), len(snapshots),
                key=f"train_replay_{run.active_key}",
            )  # fmt: skip
            snap = snapshots[epoch - 1]
        map_figure, curves_figure = live_pictures(
            run, history, snap, run.active_key is not None, progress.figures
        )
        if map_figure is not None:
            st.plotly_chart(
                presenter.chart(map_figure), key="train_map", config={"displaylogo": False}
            )
            shown = shown_snapshot(snapshots, snap, progress.figures, run.active_key is not None)
            if shown is not None:  # the bubbles of the epoch shown, drawn by the browser
                data = run.dataset
                map_layer(
                    "train_map",
                    key="train_map_layer",
                    bubbles=snapshot_bubbles(shown, data.y_test, data.label_kind),
                )
        elif not progress.finished:
            per_epoch = (
                f", {about(run.estimate_seconds / progress.epochs)} after Start"
                if run.estimate_seconds is not None and progress.epochs
                else ""
            )
            st.caption(f"The latent map appears when the first epoch ends{per_epoch}.")
    with curves:
        st.plotly_chart(presenter.chart(curves_figure), key="train_curves")
        note = run_likelihood_note(run)
        if note is not None:
            st.warning(note, icon=":material/info:")
    # Under the pictures: above them it would push the live map below the fold (1400 x 900).
    st.caption(f"Results of: {plain(settings)}")  # names the uploaded file
    if progress.finished and run.active_key is None and not run.job.alive:
        adopt_result(run)
        st.rerun()  # the whole page: stop polling, unlock the settings, offer Save


fragment(live_panel, run_every=POLL_SECONDS if running else None)()

if run is not None and not run.job.alive:
    job = run.job
    if job.diverged:
        st.error(
            f"Training diverged: {plain(job.error)}. The model keeps the weights of its last good "
            "epoch; try a lower learning rate."
        )
    elif job.error:
        st.error(f"Training failed: {plain(job.error)}")
    elif job.progress().state == "stopped":
        st.warning(f"Training {plain(job.progress().message)}; the epochs done so far are kept.")

    active = get_active_model()
    unsaved = unsaved_models().get(run.active_key)
    if active is not None and active.key == run.active_key:
        st.subheader("Keep this model")
        st.caption(
            "It is now the current model of this browser session: every page shows it. "
            "Save it to share it with other sessions and to keep it after a restart."
        )
        save_active_model_form(active, "train")
        st.page_link("pages/latent_map.py", label="Explore the latent map",
                     icon=":material/scatter_plot:")  # fmt: skip
    elif unsaved is not None:
        st.subheader("Keep this model")
        current = f"**{plain(active.name)}**" if active is not None else "another model"
        st.caption(
            f"Not saved, and no longer the current model ({current} is). It is kept for this "
            "browser session: make it current again to look at it or save it."
        )
        if st.button("Make it the current model again", key="train_make_current"):
            set_active_model(unsaved)
            st.rerun()

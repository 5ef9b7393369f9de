"""Session state, cached loaders and the current-model badge: the one home of shared Streamlit glue.

Every session-state key starts with "vx_". A model trained in this browser session lives in
this session's state (source "session") until it is saved; a model loaded from the library is
shared by every session through st.cache_resource, in eval() mode and never mutated.
"""

from __future__ import annotations

import inspect
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np
import streamlit as st
import torch
from cachetools import LRUCache
from streamlit.errors import StreamlitAPIException

from vae import VAE, describe_device, pick_device
from vae.device import interactive_threads
from vae.latent import encode_dataset, kl_per_example, reconstruction_nll_at_mean
from vae.metadata import dataset_file

from .text import plain
from .view_link import ModelRef

if TYPE_CHECKING:  # vae.data / vae.library are imported lazily: pages load faster without them
    from vae.data import Dataset
    from vae.library import ModelLibrary

ACTIVE_KEY = "vx_active_model"
LATENT_VIEW_KEY = "vx_latent_view"
CLICKED_Z_KEY = "vx_clicked_z"
CLICKED_INDEX_KEY = "vx_clicked_index"
# The latent map's zoom window [x0, x1, y0, y1] (None: the full view): reported by the map's
# browser layer when a zoom or pan ends, applied to the map when the page draws.
MAP_WINDOW_KEY = "vx_map_window"
PATH_KEY = "vx_path"
WANTED_PAGE_KEY = "vx_wanted_page"  # the page a run without app.py asked for (see below)
# The latent map's option widgets (pages/latent_map.py); links, scenes and shortcuts set them.
COLOR_BY_KEY, BUBBLES_KEY, PRIOR_KEY = "map_color_by", "map_bubbles", "map_prior"
# {model key: ActiveModel} trained in this session and not saved: opening another model must
# not throw one away, so they stay here (a few MB at most each) until saved or the session ends.
UNSAVED_KEY = "vx_unsaved_models"

MAX_VIEW_POINTS = 60_000  # the latent map draws at most this many test points
DERIVED_ENTRIES = 10  # figures and bubble data kept with one latent view (a few options' worth)

T = TypeVar("T")

# Pages that a "no model yet" message links to.
HOME_PAGE = "pages/home.py"
TRAIN_PAGE = "pages/train.py"
MODELS_PAGE = "pages/models.py"


@dataclass
class ActiveModel:
    """The model every page looks at, with the dataset it was trained on."""

    key: str  # unique and stable: the cache key of everything derived from this model
    name: str
    model: VAE  # eval() mode, never mutated after training
    metadata: dict  # the checkpoint metadata (see vae/checkpoint.py)
    dataset: Dataset
    source: Literal["session", "library"]
    # How a link or a scene names this model (ui/view_link.py); None: no other session could
    # open it (trained in this session and not saved, or saved from a copy only this session has).
    ref: ModelRef | None = None

    @property
    def view_size(self) -> int:
        """How many test points the latent map shows, so the indices a link may name."""
        return min(len(self.dataset.x_test), MAX_VIEW_POINTS)


@dataclass(eq=False)
class LatentView:
    """The test set as the latent map sees it: one row per point, at most MAX_VIEW_POINTS.

    A saved model's view is shared by every session (see latent_view): its arrays are
    read-only, and what pages derive from it (map figures) is kept with it via `derived`.
    """

    x: np.ndarray  # (N, D) inputs
    y: np.ndarray | None  # (N,) class ids or continuous values
    mu: np.ndarray  # (N, 2) posterior means
    sigma: np.ndarray  # (N, 2) posterior standard deviations
    kl: np.ndarray  # (N,) KL(q(z|x) || p(z)) in nats
    recon_nll: np.ndarray  # (N,) -log p(x|z=μ) in nats (vae.latent.reconstruction_nll_at_mean)
    label_kind: Literal["class", "continuous"] | None
    class_names: tuple[str, ...] | None
    # Names this view (and the data behind it) in server-wide caches: a shared view has one
    # token for every session, a session's own view (e.g. uploaded data) a token of its own.
    token: str = field(default_factory=lambda: uuid.uuid4().hex, repr=False)
    _derived: LRUCache = field(default_factory=lambda: LRUCache(DERIVED_ENTRIES), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def derived(self, key: tuple, build: Callable[[], T]) -> T:
        """`build()` once per key for this view (the DERIVED_ENTRIES last used keys are kept).

        Built under the view's lock: when thirty sessions open a shared model at once, one of
        them builds the figure and the others wait for it instead of building it thirty times.
        """
        with self._lock:
            if key not in self._derived:
                self._derived[key] = build()
            return self._derived[key]


def init_state() -> None:
    """Create every shared key once per session (the `if KEY not in st.session_state` idiom)."""
    threads = interactive_threads()
    if torch.get_num_threads() != threads:  # per thread (OpenMP); script threads are reused
        torch.set_num_threads(threads)
    defaults = {
        ACTIVE_KEY: None,
        LATENT_VIEW_KEY: None,
        CLICKED_Z_KEY: None,
        CLICKED_INDEX_KEY: None,
        MAP_WINDOW_KEY: None,
        PATH_KEY: [],
        UNSAVED_KEY: {},
    }
    for key, value in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = value


def new_model_key(prefix: str = "session") -> str:
    """A fresh unique key for a model trained in this session."""
    return f"{prefix}:{uuid.uuid4().hex}"


def ensure_app_entry() -> None:
    """Send a page that runs without app.py through app.py, and on to the same page.

    On a freshly started server Streamlit treats pages/ as a plain folder of pages until
    app.py has called st.navigation once, so a deep link such as /train opens that file
    alone: no navigation, no badge, no init_state (seen in Chromium on a cold server; AppTest
    does the same when it switches page before its first run). init_state() always creates
    ACTIVE_KEY, so its absence means app.py did not run; follow_page_request() in app.py
    then opens the page that was asked for.
    """
    if ACTIVE_KEY in st.session_state:
        return
    st.session_state[WANTED_PAGE_KEY] = _calling_page()
    try:
        st.switch_page("app.py", query_params=st.query_params.to_dict())  # keep a shared link
    except StreamlitAPIException:  # app.py is not a page here (a page run on its own in a test)
        st.info("Open this page from the app's start page (`streamlit run app.py`).")
        st.stop()


def _calling_page() -> str | None:
    """'pages/<name>.py' of the page script on the call stack, if any."""
    for frame in inspect.stack(context=0):
        path = Path(frame.filename)
        if path.parent.name == "pages" and path.suffix == ".py":
            return f"pages/{path.name}"
    return None


def follow_page_request(current_url_path: str) -> None:
    """In app.py after st.navigation: open the page that ensure_app_entry() was sent from."""
    wanted = st.session_state.pop(WANTED_PAGE_KEY, None)
    if wanted and Path(wanted).stem != current_url_path:
        st.switch_page(wanted, query_params=st.query_params.to_dict())  # keep a shared link


def get_active_model() -> ActiveModel | None:
    ensure_app_entry()
    return st.session_state.get(ACTIVE_KEY)


def set_active_model(active: ActiveModel) -> None:
    """Make `active` the current model; selections made on the old model no longer apply."""
    st.session_state[ACTIVE_KEY] = active
    st.session_state[LATENT_VIEW_KEY] = None
    st.session_state[CLICKED_Z_KEY] = None
    st.session_state[CLICKED_INDEX_KEY] = None
    st.session_state[MAP_WINDOW_KEY] = None
    st.session_state[PATH_KEY] = []
    if is_unsaved(active):
        st.session_state.setdefault(UNSAVED_KEY, {})[active.key] = active


def _saved_copies() -> dict[str, tuple[str, int]]:
    """{model key: (library name, st_mtime_ns of the file it was saved as)} for this session."""
    return st.session_state.setdefault("vx_saved_session_models", {})


def unsaved_models() -> dict[str, ActiveModel]:
    """This session's trained models that are not saved yet, by key (oldest first)."""
    return st.session_state.setdefault(UNSAVED_KEY, {})


def is_unsaved(active: ActiveModel) -> bool:
    """A model trained in this session with no copy of its own in the library. Once its saved
    file is deleted or replaced (by anyone: the library is shared), it is unsaved again."""
    if active.source != "session":
        return False
    copy = _saved_copies().get(active.key)
    if copy is None:
        return True
    try:
        return model_library().path_for(copy[0]).stat().st_mtime_ns != copy[1]
    except (OSError, ValueError):  # gone, or not a name the library could hold
        return True


def mark_saved(active: ActiveModel, path: Path) -> None:
    """`active` is in the library now, as `path`: nothing is lost if another model replaces it."""
    unsaved_models().pop(active.key, None)
    _saved_copies()[active.key] = (active.name, path.stat().st_mtime_ns)


def require_active_model() -> ActiveModel:
    """The active model, or a friendly pointer to where one comes from and st.stop()."""
    active = get_active_model()
    if active is not None:
        return active
    st.info(
        "No model yet. Use the quick start on Home (a few seconds on the built-in digits), "
        "train one, or load a saved model."
    )
    cols = st.columns(3)
    cols[0].page_link(HOME_PAGE, label="Quick start", icon=":material/bolt:")
    cols[1].page_link(TRAIN_PAGE, label="Train a model", icon=":material/model_training:")
    cols[2].page_link(MODELS_PAGE, label="Load a saved model", icon=":material/folder_open:")
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises; this keeps type checkers honest


def require_2d_model() -> ActiveModel:
    """The active model if its latent space can be drawn as a plane, else a message and st.stop().

    The CLI trains any latent size (`--latent-dim`) and a link may name such a model; pages
    that draw the latent plane share this one guard instead of failing on the shapes.
    """
    active = require_active_model()
    k = active.model.config.latent_dim
    if k != 2:
        st.info(
            f"“{plain(active.name)}” has a {k}-dimensional latent space; this page draws a "
            "2-D one. Pick a model with a 2-D latent space (the app trains only those), or "
            "look at this one's numbers on the Models page or with `python -m vae evaluate`."
        )
        st.page_link(MODELS_PAGE, label="Models", icon=":material/folder_open:")
        st.stop()
    return active


def stop_unless_finite(name: str, mu: np.ndarray, sigma: np.ndarray) -> None:
    """A clear message, not an error page, when a model's encoder gives NaN or ±inf.

    Finite but huge weights (a checkpoint with values near 3e38) overflow float32 inside the
    network: the file is valid, the model is not usable.
    """
    bad = ~(np.isfinite(mu).all(axis=1) & np.isfinite(sigma).all(axis=1) & (sigma > 0).all(axis=1))
    if bad.any():
        st.error(
            f"“{plain(name)}” cannot be drawn: its encoder gives NaN or infinite values for "
            f"{int(bad.sum()):,} of {len(bad):,} test points (its weights are too large to "
            "compute with)."
        )
        st.stop()


def warn_unless_finite_decoder(name: str, recon_nll: np.ndarray) -> None:
    bad = ~np.isfinite(recon_nll)
    if bad.any():
        st.warning(
            f"“{plain(name)}”'s decoder gives NaN or infinite values for {int(bad.sum()):,} of "
            f"{len(bad):,} test points: their decoded pictures are blank (its weights are too "
            "large to compute with)."
        )


def latent_view(active: ActiveModel) -> LatentView:
    """Encode the test set once per model: per server for a saved model on built-in data
    (every session shares one read-only view), else once per session. A model whose
    encodings are not finite gets a message instead (see stop_unless_finite)."""
    cached = st.session_state.get(LATENT_VIEW_KEY)
    if cached is not None and cached[0] == active.key:
        view = cached[1]
    elif shares_view(active):
        view = _shared_latent_view(active.key, active.dataset.name, active.model, active.dataset)
    else:
        view = compute_latent_view(active.model, active.dataset)
    st.session_state[LATENT_VIEW_KEY] = (active.key, view)
    stop_unless_finite(active.name, view.mu, view.sigma)
    warn_unless_finite_decoder(active.name, view.recon_nll)
    return view


def shares_view(active: ActiveModel) -> bool:
    """A saved model shown with its built-in dataset: the same for every session.

    A saved model trained on uploaded data is shown with the file each session uploads again,
    so its view stays per session even though the model itself is shared.
    """
    meta = active.metadata
    return (
        active.source == "library"
        and dataset_file(meta) is None
        and meta.get("dataset") == active.dataset.name
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def _shared_latent_view(model_key: str, dataset_name: str, _model: VAE, _data: Dataset):
    """One read-only LatentView per (saved model version, dataset) for the whole server."""
    del dataset_name  # part of the cache key only
    view = compute_latent_view(_model, _data)
    for array in (view.x, view.y, view.mu, view.sigma, view.kl, view.recon_nll):
        if array is not None:
            array.flags.writeable = False  # shared by every session: nobody may change it
    return view


def compute_latent_view(model: VAE, dataset: Dataset) -> LatentView:
    """Everything the map colours by, for the first MAX_VIEW_POINTS test points."""
    x = dataset.x_test[:MAX_VIEW_POINTS]
    y = dataset.y_test[:MAX_VIEW_POINTS] if dataset.y_test is not None else None
    mu, sigma = encode_dataset(model, x)  # (N, 2) each
    return LatentView(
        x=x,
        y=y,
        mu=mu,
        sigma=sigma,
        kl=kl_per_example(mu, sigma),
        recon_nll=reconstruction_nll_at_mean(model, x),
        label_kind=dataset.label_kind,
        class_names=dataset.class_names,
    )


@st.cache_resource(show_spinner=False)
def _library(root: str) -> ModelLibrary:
    from vae.library import ModelLibrary

    return ModelLibrary(Path(root))


def model_library() -> ModelLibrary:
    """The shared model library (one object per root directory, for every session)."""
    from vae.library import default_library_root

    return _library(str(default_library_root().resolve()))


@st.cache_resource(show_spinner="Loading the model…", max_entries=16)
def load_library_model(name: str, mtime: float) -> tuple[VAE, dict]:
    """A saved model shared read-only by every session; `mtime` makes a re-saved file reload."""
    del mtime  # part of the cache key only
    model, metadata = model_library().load(name)
    model.eval()
    for parameter in model.parameters():  # shared by all sessions: nobody may train it
        parameter.requires_grad_(False)
    return model, metadata


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=8)
def cached_dataset(name: str) -> Dataset:
    """A built-in dataset (vae.data.DATASET_NAMES), loaded once per server."""
    from vae.data import load_dataset

    return load_dataset(name)


def device_label(device: torch.device) -> str:
    """'CUDA (NVIDIA H200)', 'MPS (Apple GPU)' or 'CPU (2 threads)' (the machine's, not the page's)."""
    if device.type == "cpu":
        count = os.cpu_count() or 1
        return f"CPU ({count} thread{'s' if count != 1 else ''})"
    return describe_device(device)


def current_device_label() -> str:
    """Where new training would run."""
    return device_label(pick_device("auto"))


def dataset_label(metadata: dict) -> str:
    """What to call a model's data: the built-in name, or the uploaded file's name."""
    return dataset_file(metadata) or str(metadata.get("dataset") or "?")


def show_model_badge() -> None:
    """The current model (name, dataset, device) in the sidebar, on every page."""
    active = get_active_model()
    with st.sidebar:
        if active is None:
            st.caption(f"**No model loaded** · device: {current_device_label()}")
            return
        unsaved = is_unsaved(active)
        source = "trained in this session, not saved" if unsaved else "saved"
        st.markdown(
            f"**Model:** {plain(active.name)}  \n**Data:** {plain(dataset_label(active.metadata))}"
        )
        st.caption(f"{source} · runs on {device_label(active.model.device)}")
        others = len(unsaved_models()) - (active.key in unsaved_models())
        if others:
            st.caption(f"{others} more unsaved model{'s' * (others > 1)}: see Models.")

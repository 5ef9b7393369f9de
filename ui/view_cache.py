"""The test set as the latent map sees it, encoded once per model (the view cache).

A saved model shown with its built-in data has one read-only view for the whole server; any
other model's view is this session's. What pages derive from a view (map figures, bubble
data) is kept with it (LatentView.derived), so it is shared exactly as widely as the view.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

import numpy as np
import streamlit as st
from cachetools import LRUCache

from vae import VAE
from vae.latent import encode_dataset, kl_per_example, reconstruction_nll_at_mean
from vae.metadata import dataset_file

from .finite_checks import stop_unless_finite, warn_unless_finite_decoder
from .session_keys import LATENT_VIEW_KEY

if TYPE_CHECKING:
    from vae.data import Dataset

MAX_VIEW_POINTS = 60_000  # the latent map draws at most this many test points
DERIVED_ENTRIES = 10  # figures and bubble data kept with one latent view (a few options' worth)

T = TypeVar("T")


class ShownModel(Protocol):
    """What the view cache reads of ui/active_model.py's ActiveModel (named here, not imported:
    the active model needs this module's MAX_VIEW_POINTS)."""

    key: str
    name: str
    model: VAE
    metadata: dict
    dataset: Dataset
    source: Literal["session", "library"]


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


def latent_view(active: ShownModel) -> LatentView:
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


def shares_view(active: ShownModel) -> bool:
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

"""What every session shares, loaded once per server: the model library, its saved models and
the built-in datasets (st.cache_resource)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from vae import VAE

if TYPE_CHECKING:  # vae.data / vae.library are imported lazily: pages load faster without them
    from vae.data import Dataset
    from vae.library import ModelLibrary


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

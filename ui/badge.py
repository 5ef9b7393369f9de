"""The sidebar's current-model badge, and the labels it shows: the data, the device."""

from __future__ import annotations

import os

import streamlit as st
import torch

from vae import describe_device, pick_device
from vae.metadata import dataset_file

from .active_model import get_active_model, is_unsaved, unsaved_models
from .text import plain


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
            st.caption(f"**No model loaded** · device: {plain(current_device_label())}")
            return
        unsaved = is_unsaved(active)
        source = "trained in this session, not saved" if unsaved else "saved"
        st.markdown(
            f"**Model:** {plain(active.name)}  \n**Data:** {plain(dataset_label(active.metadata))}"
        )
        st.caption(f"{source} · runs on {plain(device_label(active.model.device))}")
        others = len(unsaved_models()) - (active.key in unsaved_models())
        if others:
            st.caption(f"{others} more unsaved model{'s' * (others > 1)}: see Models.")

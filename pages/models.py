"""Models: the saved checkpoints (shared by every session): load, upload, download, delete."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import streamlit as st

from runner.sandbox import ParseLimitError, parse_upload, validate_checkpoint_upload
from ui.active_model import get_active_model, is_unsaved, unsaved_models
from ui.app_entry import ensure_app_entry
from ui.badge import dataset_label
from ui.foreign_upload import foreign_upload_panel, import_foreign
from ui.loaders import model_library
from ui.models import (
    activate_library_model,
    activate_shipped_model,
    builtin_dataset,
    save_active_model_form,
    shipped_models,
    unsaved_models_list,
)
from ui.session_keys import MODELS_CONFIRM_KEY, MODELS_LOAD_ERROR_KEY, MODELS_NOTICE_KEY
from ui.text import download_name, plain
from vae.checkpoint import SUFFIX, CheckpointError, checkpoint_bytes
from vae.data import USER_DATA_SUFFIXES, DataError
from vae.library import ModelEntry, ModelExistsError
from vae.scoring import NOT_A_LIKELIHOOD, not_a_likelihood

ensure_app_entry()  # a deep link on a cold server must still go through app.py
CHECKPOINT_UPLOAD_MB = 100  # our largest configs save to ~10 MB; the server allows 200 MB


def describe(entry: ModelEntry) -> dict:
    """One table row: what a person picks a model by."""
    meta = entry.metadata
    elbo = (meta.get("test_metrics") or {}).get("elbo")
    created = meta.get("created")
    try:
        when = dt.datetime.fromisoformat(created).strftime("%Y-%m-%d %H:%M") if created else ""
    except (TypeError, ValueError):
        when = str(created)
    return {
        "name": entry.name,
        "dataset": dataset_label(meta) if entry.ok else "—",
        "epochs": entry.epochs if entry.ok else None,
        "test ELBO": round(elbo, 2) if isinstance(elbo, (int, float)) else None,
        "likelihood": likelihood_label(meta) if entry.ok else "—",
        "model": _model_kind(meta) if entry.ok else "—",
        "created": when,
        "size": f"{entry.size / 2**20:.1f} MB",
        "status": "ok" if entry.ok else f"broken: {entry.error}",  # a table cell: plain text
    }


def likelihood_label(meta: dict) -> str:
    """What the row's test ELBO is a log-likelihood of, or the note that it is not one."""
    likelihood = str((meta.get("model_config") or {}).get("likelihood", "?"))
    if likelihood != "bernoulli":
        return likelihood
    return not_a_likelihood(meta, short=True) or "bernoulli, dynamically binarised"


def not_a_likelihood_caption(entries: list[ModelEntry]) -> None:
    """The full note under a table that has a model whose ELBO is not a log-likelihood."""
    if any(e.ok and not_a_likelihood(e.metadata) for e in entries):
        st.caption(NOT_A_LIKELIHOOD)


def _model_kind(meta: dict) -> str:
    if isinstance(meta.get("foreign"), dict):
        return "imported ONNX"
    config = meta.get("model_config") or {}
    return f"{config.get('architecture', '?')} {tuple(config.get('hidden', ()))}"


def flash(message: str) -> None:
    st.session_state[MODELS_NOTICE_KEY] = message


def load_entry(name: str) -> None:
    """The Load button's callback: it runs before the page, so the page is drawn once, with the
    new model and the notice (a rerun after loading cost every student a second page run). It
    gets the name only: a session keeps its callbacks' arguments, not a listing's metadata."""
    try:
        activate_library_model(model_library().entry(name))
    except (CheckpointError, DataError, OSError) as error:
        st.session_state[MODELS_LOAD_ERROR_KEY] = f"Cannot load '{plain(name)}': {plain(error)}"
    else:
        flash(f"Loaded '{plain(name)}': it is now the current model on every page.")


st.title("Models")
library = model_library()
notice = st.session_state[MODELS_NOTICE_KEY]
if notice:
    st.success(notice)
    st.session_state[MODELS_NOTICE_KEY] = None

active = get_active_model()
if active is not None:
    with st.container(border=True):
        st.markdown(
            f"**Current model: {plain(active.name)}** · {plain(dataset_label(active.metadata))} · "
            + ("trained in this session, not saved yet" if is_unsaved(active) else "saved")
        )
        if is_unsaved(active):
            save_active_model_form(active, "models")
        st.download_button(
            "Download the current model",
            data=lambda: checkpoint_bytes(active.model, active.metadata),
            file_name=download_name(active.name, SUFFIX),
            mime="application/octet-stream",
            key="models_download_current",
            on_click="ignore",
            icon=":material/download:",
        )

if len(unsaved_models()) > (active is not None and active.key in unsaved_models()):
    st.subheader("Unsaved models of this session")
    unsaved_models_list("models", exclude=active.key if active is not None else None)

st.subheader("Saved models")
st.caption(f"Folder: {plain(library.root)} · shared by every session of this server.")
entries = library.list()
if not entries:
    st.info(
        "No saved models yet. Train one (Train page) and save it, or upload a checkpoint below."
    )
else:
    st.dataframe([describe(e) for e in entries], hide_index=True, key="models_table")
    not_a_likelihood_caption(entries)
    names = [e.name for e in entries]
    chosen = st.selectbox("Model", names, key="models_chosen")
    entry = next(e for e in entries if e.name == chosen)
    if not entry.ok:
        st.error(f"'{plain(entry.name)}' cannot be used: {plain(entry.error)}")
    # One row of buttons as wide as their labels (columns cut them to "Lo…" at 1000 px).
    load_col = download_col = delete_col = st.container(horizontal=True)
    user_data = entry.ok and builtin_dataset(entry.metadata) is None
    load_col.button("Load", key="models_load", icon=":material/open_in_browser:",
                    disabled=not entry.ok or user_data, type="primary",
                    on_click=load_entry, args=(entry.name,))  # fmt: skip
    if load_error := st.session_state[MODELS_LOAD_ERROR_KEY]:
        st.session_state[MODELS_LOAD_ERROR_KEY] = None  # shown once
        st.error(load_error)
    download_col.download_button(
        "Download",
        data=lambda name=entry.name: library.read_bytes(name),
        file_name=download_name(entry.name, SUFFIX),
        mime="application/octet-stream",
        key="models_download",
        disabled=not entry.ok,  # only a validated regular file in the folder is served
        on_click="ignore",
        icon=":material/download:",
    )
    if delete_col.button("Delete…", key="models_delete", icon=":material/delete:"):
        st.session_state[MODELS_CONFIRM_KEY] = entry.name
    if user_data:
        # Checkpoints hold weights and plain metadata, never training data: to look at a model
        # trained on uploaded data, the same file is uploaded again and checked for shape.
        st.info(
            f"'{plain(entry.name)}' was trained on uploaded data "
            f"(**{plain(dataset_label(entry.metadata))}**). Upload that file again to load it."
        )
        data_file = st.file_uploader(
            "The model's data", type=list(USER_DATA_SUFFIXES), key="models_dataset_upload"
        )
        if data_file is not None and st.button("Load with this data", key="models_load_data"):
            try:
                dataset = parse_upload(data_file.getvalue(), data_file.name)
                activate_library_model(entry, dataset)
            except (CheckpointError, DataError, OSError) as error:
                st.error(f"Cannot load '{plain(entry.name)}': {plain(error)}")
            else:
                flash(f"Loaded '{plain(entry.name)}' with {plain(data_file.name)}.")
                st.rerun()

    pending = st.session_state[MODELS_CONFIRM_KEY]
    if pending is not None:
        st.warning(
            f"Delete **{plain(pending)}** from the library for every session? This cannot be undone."
        )
        yes = no = st.container(horizontal=True)  # buttons as wide as their labels
        if yes.button("Yes, delete", key="models_delete_yes", type="primary"):
            st.session_state[MODELS_CONFIRM_KEY] = None
            try:
                library.delete(pending)
            except (CheckpointError, ValueError) as error:
                st.error(f"Cannot delete '{plain(pending)}': {plain(error)}")
            else:
                flash(f"Deleted '{plain(pending)}'.")
                st.rerun()
        if no.button("Cancel", key="models_delete_no"):
            st.session_state[MODELS_CONFIRM_KEY] = None
            st.rerun()

shipped = shipped_models()
if shipped:
    # Read-only: loaded like library models, never deleted or replaced from the app.
    st.subheader("Shipped with the app")
    st.caption("Ready-made models (`scripts/make_pretrained.sh`), read-only. They are shown "
               "with their dataset's test images, which must be on this computer.")  # fmt: skip
    st.dataframe([describe(e) for e in shipped], hide_index=True, key="models_shipped_table")
    not_a_likelihood_caption(shipped)
    for shipped_entry in shipped:
        if st.button(f"Load {plain(shipped_entry.name)} (pretrained)", icon=":material/open_in_browser:",
                     key=f"models_load_shipped_{shipped_entry.name}"):  # fmt: skip
            try:
                activate_shipped_model(shipped_entry)
            except (CheckpointError, DataError, OSError) as error:
                st.error(f"Cannot load '{plain(shipped_entry.name)}': {plain(error)}")
            else:
                flash(
                    f"Loaded '{plain(shipped_entry.name)}' (pretrained): it is now the current model."
                )
                st.rerun()

st.subheader("Upload a checkpoint")
uploaded = st.file_uploader(
    f"A {SUFFIX} file saved by this app or by `python -m vae`",
    type=[SUFFIX.lstrip(".")],
    key="models_upload",
    max_upload_size=CHECKPOINT_UPLOAD_MB,
)
if uploaded is not None:
    stem = Path(uploaded.name).stem
    name = st.text_input("Name in the library", value=stem, max_chars=80, key="models_upload_name")
    overwrite = st.checkbox("Replace a saved model of that name", key="models_upload_overwrite")
    if st.button("Add to the library", key="models_upload_add", icon=":material/upload:"):
        try:
            library.path_for(name)  # a bad name is refused before the upload is checked
            # Every byte of the upload is decoded in the sandbox's child; this process gets
            # back the checkpoint as this app writes it (or an imported model's parts).
            with st.spinner("Checking the checkpoint…"):
                checked = validate_checkpoint_upload(uploaded.getvalue(), uploaded.name, name)
            if isinstance(checked, dict):
                # An imported model from another library: its graphs are checked and run in
                # the upload sandbox like any ONNX upload.
                sources = {"checkpoint": uploaded.name}
                added, _ = import_foreign(library, name, checked, sources, overwrite)
            else:
                added = library.import_bytes(name, checked, overwrite=overwrite)
        except ModelExistsError as error:
            st.error(f"{plain(error)}.")
        except (CheckpointError, ParseLimitError, ValueError, OSError) as error:
            # Validated in a temp file first: a broken upload never replaces a good model.
            st.error(f"This file cannot be used: {plain(error)}")
        else:
            flash(f"Added '{plain(added.name)}' to the library.")
            st.rerun()

if (added_message := foreign_upload_panel(library)) is not None:
    flash(added_message)
    st.rerun()

"""Library glue shared by Home, Train and Models: load a saved model, save the session's model."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from vae import VAE
from vae.checkpoint import CheckpointError
from vae.data import DATASET_NAMES, DataError, Dataset, local_idx_folder, missing_files_help
from vae.library import ModelEntry, ModelExistsError, ModelLibrary
from vae.metadata import builtin_dataset as metadata_builtin_dataset
from viz.text import scalar_text

from .active_model import ActiveModel, mark_saved, set_active_model, unsaved_models
from .badge import dataset_label
from .loaders import cached_dataset, load_library_model, model_library
from .session_keys import SAVE_PROBLEM_KEY
from .text import plain
from .view_link import PRETRAINED, SAVED, ModelRef


def builtin_dataset(metadata: dict) -> str | None:
    """The built-in dataset a model was trained on, or None for the user's own data."""
    return metadata_builtin_dataset(metadata, DATASET_NAMES)


def input_mismatch(name: str, model, dataset: Dataset) -> str | None:
    """Why `model` cannot read `dataset` (a metadata label can name the wrong data), or None."""
    if dataset.x_test.shape[1] != model.config.input_dim:
        return (
            f"'{name}' expects {model.config.input_dim} values per example, but its data "
            f"({dataset.name}) has {dataset.x_test.shape[1]}"
        )
    return None


def library_key(entry: ModelEntry) -> str:
    """Cache key of a saved model: changes when the file is replaced."""
    return f"library:{entry.name}:{entry.mtime}"


def activate_library_model(entry: ModelEntry, dataset: Dataset | None = None) -> ActiveModel:
    """Make a saved model the active one (shared, read-only, loaded once per server).

    Built-in datasets are found from metadata["dataset"]; a model trained on uploaded data
    needs that data again (`dataset`), since checkpoints hold weights, not training data.
    Raises CheckpointError / DataError with a message for the user.
    """
    model, metadata = load_library_model(entry.name, entry.mtime)
    if dataset is None:
        name = builtin_dataset(metadata)
        if name is None:
            raise DataError(
                f"{entry.name!r} was trained on uploaded data ({dataset_label(metadata)}): "
                "upload that file again to look at it"
            )
        dataset = cached_dataset(name)
    if (mismatch := input_mismatch(entry.name, model, dataset)) is not None:
        raise DataError(mismatch)
    active = ActiveModel(
        key=library_key(entry),
        name=entry.name,
        model=model,
        metadata=metadata,
        dataset=dataset,
        source="library",
        ref=ModelRef(entry.name),
    )
    set_active_model(active)
    return active


def unsaved_models_list(prefix: str, exclude: str | None = None) -> None:
    """This session's unsaved models (but `exclude`), each with a way back to it."""
    for key, model in list(unsaved_models().items()):
        if key == exclude:
            continue
        text_col, button_col = st.columns([4, 1])
        text_col.markdown(
            f"**{plain(model.name)}** · {plain(dataset_label(model.metadata))} · trained in this session, "
            "not saved: make it current to save it."
        )
        if button_col.button("Make current", key=f"{prefix}_make_current_{key}"):
            set_active_model(model)
            st.rerun()


# Models shipped with the app (made by scripts/make_pretrained.sh): read-only, beside the library.
PRETRAINED_ROOT = Path(__file__).resolve().parent.parent / "pretrained"
PRETRAINED_FASHION = "fashion-mnist"


@st.cache_resource(show_spinner=False, ttl=60)
def shipped_models() -> list[ModelEntry]:
    """The valid checkpoints in PRETRAINED_ROOT (none when the folder is absent); re-read at
    most once a minute, since Home lists them for every visitor."""
    return [entry for entry in ModelLibrary(PRETRAINED_ROOT).list() if entry.ok]


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def load_shipped_model(name: str, mtime: float) -> tuple[VAE, dict]:
    """A shipped model, shared read-only by every session like a library model."""
    del mtime  # part of the cache key only
    model, metadata = ModelLibrary(PRETRAINED_ROOT).load(name)
    model.eval()
    for parameter in model.parameters():  # shared by all sessions: nobody may train it
        parameter.requires_grad_(False)
    return model, metadata


def activate_shipped_model(entry: ModelEntry) -> ActiveModel:
    """Make a shipped model the active one. Its dataset must already be on this computer:
    the app never downloads (a classroom may be offline), so a missing MNIST / Fashion-MNIST
    raises DataError with the ways to get it. Raises CheckpointError for a broken file."""
    model, metadata = load_shipped_model(entry.name, entry.mtime)
    name = builtin_dataset(metadata)
    if name is None:
        raise DataError(f"the shipped model {entry.name!r} names no built-in dataset")
    if name in ("mnist", "fashion-mnist") and local_idx_folder(name) is None:
        raise DataError(f"this model is shown with the {name} test images, which are not on "
                        f"this computer. {missing_files_help(name)}")  # fmt: skip
    dataset = cached_dataset(name)
    active = ActiveModel(
        key=f"pretrained:{entry.name}:{entry.mtime}",
        name=f"{entry.name} (pretrained)",
        model=model,
        metadata=metadata,
        dataset=dataset,
        source="library",  # shared and read-only: its latent view is shared too
        ref=ModelRef(entry.name, PRETRAINED),
    )
    set_active_model(active)
    return active


def activate_model(ref: ModelRef) -> ActiveModel:
    """Open the model a link or a scene names, where its source says it lives. LookupError if
    there is none of that name; CheckpointError / DataError as the openers raise them."""
    entries, activate = {
        SAVED: (lambda: model_library().list(), activate_library_model),
        PRETRAINED: (shipped_models, activate_shipped_model),
    }[ref.source]
    entry = next((e for e in entries() if e.name == ref.name and e.ok), None)
    if entry is None:
        raise LookupError(ref.name)
    return activate(entry)


def save_active_model_form(active: ActiveModel, prefix: str) -> None:
    """Name + Save for a model trained in this session; bad names and clashes -> st.error."""
    st.text_input(
        "Save as",
        value=scalar_text(active.name),  # sent to the browser: valid Unicode only
        max_chars=80,
        key=f"{prefix}_save_name",
        help="Letters, digits, spaces, '-', '_' and '.'. Saved models are shared with every "
        "session of this server.",
    )
    st.checkbox("Replace a saved model of that name", key=f"{prefix}_save_overwrite")
    st.button("Save to the library", key=f"{prefix}_save", icon=":material/save:",
              on_click=_save_active_model, args=(active, prefix))  # fmt: skip
    problem = st.session_state[SAVE_PROBLEM_KEY]
    if problem is not None and problem[0] == prefix:
        st.error(problem[1])
        st.session_state[SAVE_PROBLEM_KEY] = None


def _save_active_model(active: ActiveModel, prefix: str) -> None:
    """The Save button's callback: it runs before the script, so the sidebar (drawn before the
    page) already knows the model is saved; a problem is shown by the form, success by a toast."""
    name = st.session_state[f"{prefix}_save_name"]
    overwrite = st.session_state.get(f"{prefix}_save_overwrite", False)
    try:
        path = model_library().save(name, active.model, active.metadata, overwrite=overwrite)
    except ModelExistsError as error:
        st.session_state[SAVE_PROBLEM_KEY] = (prefix, f"{plain(error)}.")
    except (ValueError, CheckpointError, OSError) as error:  # bad name, unwritable folder
        st.session_state[SAVE_PROBLEM_KEY] = (prefix, f"Cannot save: {plain(error)}.")
    else:
        saved = path.name.removesuffix(path.suffix)
        active.metadata = {**active.metadata, "name": saved}
        active.name = saved
        active.ref = ModelRef(saved)  # a link can name it now
        mark_saved(active, path)
        st.toast(f"Saved as **{plain(saved)}**. It is listed on the Models page.",
                 icon=":material/save:")  # fmt: skip

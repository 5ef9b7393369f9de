"""Every key the app's code writes into st.session_state: its name, what it holds, its default
and the one module that writes it.

A module that keeps something in session state imports its key's name from here, so a name is
spelled once. tests/test_session_keys.py scans ui/ and pages/ and fails on a key written that is
not registered here, or written from a module other than its writer; other modules read it
(through the writer's functions where it has them).

Two kinds of key:
- a value of the app's own: `init_state()` creates it with its default once per session (on
  every run of app.py, and when a page runs first), so no helper needs a `setdefault`;
- a widget's key (default WIDGET): Streamlit creates it when the widget draws and deletes it
  after a run that does not draw it. The code writes one only before its widget draws (a link,
  a scene, a shortcut, a callback), so it is never initialised here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
from cachetools import LRUCache

WIDGET = object()  # the default of a widget's key: Streamlit creates it


@dataclass(frozen=True)
class SessionKey:
    name: str
    writer: str  # the one module that writes it, as a path from the repository root
    holds: str  # what it holds, as a type
    default: Callable[[], Any] | object  # a factory (one fresh value per session), or WIDGET
    meaning: str

    @property
    def is_widget(self) -> bool:
        return self.default is WIDGET


REGISTRY: dict[str, SessionKey] = {}

# Modules that write a key their caller names (a widget's key): they write on that key's
# writer's behalf, so a write with a key that is a parameter is allowed there only.
KEYED_WRITERS = {
    "ui/session_keys.py": "init_state() creates every key of the app's own with its default",
    "ui/form_memory.py": "puts a remembered widget value back under the widget's own key",
}


def _register(
    name: str, writer: str, holds: str, default: Callable[[], Any] | object, meaning: str
) -> str:
    if name in REGISTRY:
        raise ValueError(f"session key {name!r} registered twice")
    REGISTRY[name] = SessionKey(name, writer, holds, default, meaning)
    return name


def _none() -> None:
    return None


# --- The model and what is derived from it ----------------------------------------------
ACTIVE_KEY = _register(
    "vx_active_model", "ui/active_model.py", "ActiveModel | None", _none,
    "the model every page looks at",
)  # fmt: skip
UNSAVED_KEY = _register(
    "vx_unsaved_models", "ui/active_model.py", "dict[str, ActiveModel]", dict,
    "models trained in this session and not saved, by model key (oldest first)",
)  # fmt: skip
SAVED_COPIES_KEY = _register(
    "vx_saved_session_models", "ui/active_model.py", "dict[str, tuple[str, int]]", dict,
    "{model key: (library name, st_mtime_ns)} of this session's models saved to the library",
)  # fmt: skip
LATENT_VIEW_KEY = _register(
    "vx_latent_view", "ui/view_cache.py", "tuple[str, LatentView] | None", _none,
    "the active model's encoded test set, with the model key it belongs to",
)  # fmt: skip
WANTED_PAGE_KEY = _register(
    "vx_wanted_page", "ui/app_entry.py", "str | None", _none,
    "the page a run without app.py asked for (a cold deep link)",
)  # fmt: skip

# --- What the user picked on the latent plane (cleared with the model) ------------------
CLICKED_Z_KEY = _register(
    "vx_clicked_z", "ui/selection.py", "tuple[float, float] | None", _none,
    "the clicked z on the latent map",
)  # fmt: skip
CLICKED_INDEX_KEY = _register(
    "vx_clicked_index", "ui/selection.py", "int | None", _none,
    "the test point clicked (None: empty space or a chosen z)",
)  # fmt: skip
MAP_WINDOW_KEY = _register(
    "vx_map_window", "ui/selection.py", "list[float] | None", _none,
    "the latent map's zoom window [x0, x1, y0, y1] as the browser last reported it",
)  # fmt: skip
PATH_KEY = _register(
    "vx_path", "ui/selection.py", "list[tuple[float, float]]", list,
    "the Interpolate page's waypoints",
)  # fmt: skip
SELECTED_KEY = _register(
    "vx_selected", "ui/selection.py", "list[int]", list,
    "points selected on the Compare page (indices of the latent view)",
)  # fmt: skip

# --- The latent map's options -------------------------------------------------------------
COLOR_BY_KEY = _register(
    "map_color_by", "ui/map_options.py", "str", WIDGET, "the map's Colour-by selectbox",
)  # fmt: skip
BUBBLES_KEY = _register(
    "map_bubbles", "ui/map_options.py", "str", WIDGET, "the map's Bubbles control (off/1σ/2σ)",
)  # fmt: skip
PRIOR_KEY = _register(
    "map_prior", "ui/map_options.py", "bool", WIDGET, "the map's Prior N(0, I) checkbox",
)  # fmt: skip
COLOR_OPTIONS_KEY = _register(
    "vx_color_options", "ui/map_options.py", "list[str]", list,
    "the Colour-by choices the map offered last (the C shortcut cycles through them)",
)  # fmt: skip
SAMPLE_SEED_KEY = _register(
    "vx_map_sample_seed", "ui/latent_panel.py", "int", int,
    "the seed of the clicked point's ε samples (New ε adds one)",
)  # fmt: skip

# --- What this session's browser already has ----------------------------------------------
DECODERS_SENT_KEY = _register(
    "vx_map_decoder_sent", "ui/components/map_decoder.py", "set[str]", set,
    "ids of the network weights this session's browser was sent (decoders and encoders)",
)  # fmt: skip
BUBBLES_SENT_KEY = _register(
    "vx_map_layer_sent", "ui/components/map_layer.py", "set[str]", set,
    "ids of the bubble data sets this session's browser was sent",
)  # fmt: skip
CLICK_PANEL_SENT_KEY = _register(
    "vx_click_panel_sent", "ui/components/click_panel.py", "set[str]", set,
    "ids of the test-set atlases (pictures, μ, σ, labels) this session's browser was sent",
)  # fmt: skip
VIEWPORT_KEY = _register(
    "vx_viewport", "ui/components/shortcuts.py", "tuple[int, int] | None", _none,
    "the browser window's (width, height), as last reported in presenter mode",
)  # fmt: skip

# --- Sharing, scenes, presenter mode, reconnection ----------------------------------------
SHARE_APPLIED_KEY = _register(
    "vx_share_applied", "ui/share.py", "dict[str, str] | None", _none,
    "the query params last restored from or written to the URL",
)  # fmt: skip
SCENE_POSITION_KEY = _register(
    "vx_scene_position", "ui/scene_panel.py", "int | None", _none,
    "the index of the scene shown last (None before any)",
)  # fmt: skip
SCENE_MESSAGE_KEY = _register(
    "vx_scene_message", "ui/scene_panel.py", "tuple[str, str] | None", _none,
    "(kind, text) left by a scene callback for the panel to show once",
)  # fmt: skip
SCENE_NAME_KEY = _register(
    "scene_name_input", "ui/scene_panel.py", "str", WIDGET, "the new scene's name input",
)  # fmt: skip
PRESENTER_KEY = _register(
    "vx_presenter", "ui/presenter.py", "bool", bool, "presenter mode is on",
)  # fmt: skip
PRESENTER_TOGGLE_KEY = _register(
    "presenter_toggle", "ui/presenter.py", "bool", WIDGET,
    "the sidebar's Presenter mode toggle (mirrors vx_presenter)",
)  # fmt: skip
PRESENTER_TOGGLE_SHOWN_KEY = _register(
    "vx_presenter_toggle_shown", "ui/presenter.py", "bool", bool,
    "the value the Presenter mode toggle was last drawn with (a stale browser value is not a flip)",
)  # fmt: skip
PRESENTER_PAGE_MENU_KEY = _register(
    "presenter_page_menu", "ui/presenter.py", "str", WIDGET,
    "presenter mode's page menu (set to the page shown before it draws)",
)  # fmt: skip
PRESENTER_PAGE_WANTED_KEY = _register(
    "vx_presenter_page_wanted", "ui/presenter.py", "str | None", _none,
    "the page chosen in presenter mode's menu, until the next run switches to it",
)  # fmt: skip
SESSION_SEEN_KEY = _register(
    "vx_session_seen", "ui/reconnect.py", "bool", bool,
    "this session ran once (a reconnection notice is shown on a first run only)",
)  # fmt: skip

# --- Caches and memories --------------------------------------------------------------------
EXPLORE_CACHE_KEY = _register(
    "vx_explore_cache", "ui/explore_cache.py", "LRUCache", lambda: LRUCache(maxsize=12),
    "the explore pages' heavy results (densities, t-SNE, decoded grids), by model key",
)  # fmt: skip
FORM_MEMORY_KEY = _register(
    "vx_form_memory", "ui/form_memory.py", "dict[str, Any]", dict,
    "{widget key: last value}: form values that outlive a visit to another page",
)  # fmt: skip
INTERP_SEEDED_KEY = _register(
    "vx_interp_seeded", "ui/interp_panel.py", "str | None", _none,
    "the model key whose default path was already offered",
)  # fmt: skip

# --- Training ---------------------------------------------------------------------------------
TRAIN_RUN_KEY = _register(
    "vx_train_run", "ui/training.py", "TrainRun | None", _none,
    "this session's training (running or finished)",
)  # fmt: skip
TRAIN_LIVE_FIGURES_KEY = _register(
    "vx_train_live_figures", "ui/live_pictures.py", "LivePictures | None", _none,
    "the Train page's last live map and curves, and when to rebuild them",
)  # fmt: skip
SAVE_PROBLEM_KEY = _register(
    "vx_save_problem", "ui/models.py", "tuple[str, str] | None", _none,
    "(form prefix, message): why the last Save failed, shown by that form",
)  # fmt: skip
TRAIN_LOAD_FAILURES_KEY = _register(
    "vx_train_load_failures", "pages/train.py", "dict[str, str]", dict,
    "{dataset name: error message}: a failed load is not retried on every rerun",
)  # fmt: skip
TRAIN_UPLOAD_KEY = _register(
    "vx_train_upload", "pages/train.py", "tuple[str, Dataset, str] | None", _none,
    "(file_id, Dataset, file name) of the last parsed upload",
)  # fmt: skip
# The Train form's widgets (pages/train.py; ui/form_memory.py puts their values back).
TRAIN_SETTING_KEYS = tuple(
    _register(name, "pages/train.py", holds, WIDGET, f"the Train form's {what}")
    for name, holds, what in (
        ("train_dataset", "str", "dataset"),
        ("train_architecture", "str", "architecture"),
        ("train_hidden", "str", "hidden layer widths"),
        ("train_epochs", "int", "epochs"),
        ("train_batch", "int", "batch size"),
        ("train_lr", "float", "learning rate"),
        ("train_beta", "float", "β"),
        ("train_warmup", "int", "KL warm-up epochs"),
        ("train_seed", "int", "seed"),
        ("train_likelihood", "str", "likelihood"),
        ("train_binarize", "bool", "dynamic binarisation"),
    )
)

# --- Pages' own values ------------------------------------------------------------------------
INFERENCE_INDEX_KEY = _register(
    "inf_index", "ui/scored_input.py", "int", WIDGET, "the Inference lab's test point number",
)  # fmt: skip
INFERENCE_WANT_LARGE_GAP_KEY = _register(
    "inf_want_large_gap", "pages/inference.py", "bool", bool,
    "the large-gap button was pressed: find the point before the index input draws",
)  # fmt: skip
INFERENCE_DRAW_KEY = _register(
    "inf_draw", "ui/scored_input.py", "int", WIDGET,
    "the number of the binary sample of x the Inference lab scores (a binarised model)",
)  # fmt: skip
INFERENCE_INPUT_KEY = _register(
    "vx_inference_input", "pages/draw.py", "dict | None", _none,
    "a picture sent from Draw & encode to the Inference lab: {x, source, name}",
)  # fmt: skip
DRAW_CURRENT_KEY = _register(
    "vx_draw_current", "pages/draw.py", "dict | None", _none,
    "the drawing pad's input now: {x, source, name[, id]}",
)  # fmt: skip
DRAW_UPLOAD_SEEN_KEY = _register(
    "vx_draw_upload_seen", "pages/draw.py", "str | None", _none,
    "the file_id of the upload last converted",
)  # fmt: skip
BETA_PAIR_KEY = _register(
    "vx_beta_pair", "pages/beta.py", "dict | None", _none,
    "the β page's two models: {differences, betas, models: [(label, model, dataset, terms, key)]}",
)  # fmt: skip
COMPARE_LAST_EVENT_KEY = _register(
    "vx_compare_last_event", "pages/compare.py", "tuple[int, ...] | None", _none,
    "the last chart selection the Compare page applied",
)  # fmt: skip
MANIFOLD_SEED_KEY = _register(
    "vx_manifold_seed", "pages/manifold.py", "int", int, "the prior samples' seed (Resample)",
)  # fmt: skip
MODELS_CONFIRM_KEY = _register(
    "vx_models_confirm_delete", "pages/models.py", "str | None", _none,
    "the saved model awaiting “yes, delete”",
)  # fmt: skip
MODELS_NOTICE_KEY = _register(
    "vx_models_notice", "pages/models.py", "str | None", _none,
    "a success message that survives the rerun after an action",
)  # fmt: skip
MODELS_LOAD_ERROR_KEY = _register(
    "vx_models_load_error", "pages/models.py", "str | None", _none,
    "why the Load callback failed, shown by the page",
)  # fmt: skip
S3D_MODELS_KEY = _register(
    "vx_s3d_models", "pages/surface_3d.py", "dict[str, tuple[str, QuickModel]]", dict,
    "{dataset name: (model key, QuickModel)} trained on the 3-D page",
)  # fmt: skip
S3D_Z_KEY = _register(
    "vx_s3d_z", "pages/surface_3d.py", "tuple[float, float] | None", _none,
    "the z clicked on the 3-D page's map when its own toy model is shown",
)  # fmt: skip


def init_state() -> None:
    """Create every key of the app's own with its default, once per session (widget keys are
    Streamlit's). Cheap enough for every run: app.py calls it, and so does a page's first run
    (ui/app_entry.py), which is how a test that runs one page gets the same state."""
    state = st.session_state
    for key in REGISTRY.values():
        if not key.is_widget and key.name not in state:
            state[key.name] = key.default()

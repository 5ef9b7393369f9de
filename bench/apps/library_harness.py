"""A bench-only entry point: the real Latent map page on one library model (BENCH_MODEL in
$VAE_EXPLORER_MODELS), native or imported, with the Fashion-MNIST test set."""

import os
import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from ui.active_model import ActiveModel, get_active_model, set_active_model  # noqa: E402
from ui.models import library_key  # noqa: E402
from ui.session_keys import init_state  # noqa: E402
from vae.data import load_dataset  # noqa: E402
from vae.library import ModelLibrary  # noqa: E402


@st.cache_resource
def prepared(name: str):
    library = ModelLibrary()
    model, metadata = library.load(name)
    return library.entry(name), model, metadata, load_dataset("fashion-mnist")


st.set_page_config(page_title="VAE explorer bench", layout="wide")
init_state()
if get_active_model() is None:
    entry, model, metadata, dataset = prepared(os.environ["BENCH_MODEL"])
    set_active_model(ActiveModel(library_key(entry), entry.name, model, metadata, dataset,
                                 "library"))  # fmt: skip
st.navigation([st.Page(str(ROOT / "pages/latent_map.py"), title="Latent map", default=True)]).run()

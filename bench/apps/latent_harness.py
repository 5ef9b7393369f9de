"""A bench-only entry point: the real Latent map / Interpolate pages on a prepared model and data.

bench/ scripts train a quick model on real data (MNIST test set, Fashion-MNIST train set),
save it with save_harness_inputs, and point BENCH_INPUTS at that folder. This app makes it the
active model, exactly as the Models page would, and runs the app's own pages.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import streamlit as st
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from ui.active_model import ActiveModel, get_active_model, set_active_model  # noqa: E402
from ui.session_keys import init_state  # noqa: E402
from vae import VAE, ModelConfig  # noqa: E402
from vae.data import Dataset  # noqa: E402


@st.cache_resource
def prepared(folder: str) -> tuple[VAE, Dataset]:
    path = Path(folder)
    model = VAE(ModelConfig.from_dict(json.loads((path / "config.json").read_text())))
    model.load_state_dict(torch.load(path / "weights.pt", weights_only=True))
    model.eval()
    data = np.load(path / "data.npz")
    x, y = data["x"].astype(np.float32), data["y"].astype(np.int64)
    dataset = Dataset(
        name=str(data["name"]),
        x_train=x[:1],
        x_test=x,
        y_train=y[:1],
        y_test=y,
        image_shape=(28, 28),
        likelihood="bernoulli",
        label_kind="class",
        class_names=tuple(str(i) for i in range(10)),
        preprocessing={},
        description="bench data",
    )
    return model, dataset


st.set_page_config(page_title="VAE explorer bench", layout="wide")
init_state()
if get_active_model() is None:
    model, dataset = prepared(os.environ["BENCH_INPUTS"])
    set_active_model(
        ActiveModel(
            "bench:" + dataset.name, "bench", model, {"dataset": dataset.name}, dataset, "session"
        )
    )
pages = [
    st.Page(str(ROOT / "pages/latent_map.py"), title="Latent map", default=True),
    st.Page(str(ROOT / "pages/interpolate.py"), title="Interpolate"),
]
st.navigation(pages).run()

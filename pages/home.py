"""Home: what a VAE with a 2-D latent space is, in one screen, and a one-click quick start."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import presenter
from ui.active_model import get_active_model
from ui.app_entry import ensure_app_entry
from ui.loaders import cached_dataset, model_library
from ui.models import (
    PRETRAINED_FASHION,
    activate_library_model,
    activate_shipped_model,
    shipped_models,
)
from ui.text import plain
from ui.training import (
    QUICK_START_MODEL,
    QUICK_START_TRAIN,
    model_config_for,
    start_warm_up,
    train_blocking,
)
from vae.checkpoint import CheckpointError
from vae.data import DataError
from viz.plots import bubble_sketch

LATENT_MAP_PAGE = "pages/latent_map.py"

ensure_app_entry()  # a deep link on a cold server must still go through app.py

st.title("VAE explorer")
st.markdown(
    "A **variational autoencoder** squeezes each example into just **two numbers**, so that "
    "the whole latent space fits on your screen. Train one in seconds, then look inside it."
)

theory, start = st.columns([3, 2], gap="large")

# The right-hand column is written first (columns keep their places on screen whatever order
# they are filled in): the quick-start button reaches the browser before the formulas, and the
# sketch's plotly.js is fetched and parsed while the browser typesets them.
with start:
    st.subheader("Quick start")
    st.markdown(
        "Train on the built-in 8×8 **digits** (1,497 images) in a few seconds, then open the "
        "latent map."
    )
    quick_start = st.button(
        "Train on digits", type="primary", key="home_quick_start",
        icon=":material/bolt:", width="stretch",
    )  # fmt: skip
    quick_start_progress = st.empty()  # filled once the whole page is drawn (below)
    pretrained = next((e for e in shipped_models() if e.name == PRETRAINED_FASHION), None)
    if pretrained is not None:
        if st.button("Open Fashion-MNIST", key="home_open_pretrained",
                     icon=":material/checkroom:", width="stretch"):  # fmt: skip
            try:
                activate_shipped_model(pretrained)
            except (CheckpointError, DataError, OSError) as error:
                st.error(f"Cannot open the pretrained map: {plain(error)}")
            else:
                st.switch_page(LATENT_MAP_PAGE)
        st.caption(
            "A model shipped with the app, trained on 60,000 Fashion-MNIST images of clothes: "
            "its map of the 10,000 test images opens without training."
        )

    library = model_library()
    entries = [e for e in library.list() if e.ok]
    st.subheader("…or open a saved model")
    if not entries:
        st.caption("No saved models yet. Models you train can be saved from the Train page.")
    else:
        names = [e.name for e in entries]
        chosen = st.selectbox("Saved model", names, key="home_saved_model")
        if st.button("Open", key="home_open_saved", icon=":material/folder_open:"):
            entry = next(e for e in entries if e.name == chosen)
            try:
                activate_library_model(entry)
            except (CheckpointError, DataError, OSError) as error:
                st.error(f"Cannot open '{plain(chosen)}': {plain(error)}")
            else:
                st.switch_page(LATENT_MAP_PAGE)
    st.page_link("pages/train.py", label="Your own data",
                 icon=":material/model_training:")  # fmt: skip

    st.subheader("What a bubble means")
    # A hand-placed sketch (not a trained model): two confident examples far apart, one vague.
    st.plotly_chart(
        presenter.chart(
            bubble_sketch(
                np.array([[-1.4, -1.0], [1.5, 0.7], [0.1, 0.3]]),
                np.array([[0.15, 0.2], [0.2, 0.15], [0.6, 0.5]]),
                ["a clear 0", "a clear 7", "a smudge: 4 or 9?"],
            )
        ),
        key="home_bubble_sketch",
        config={"displayModeBar": False},
    )
    st.caption(
        "A sketch: each ellipse is one example's q(z|x) at 1σ. A sharp example gets a small "
        "bubble; an ambiguous one a big bubble near the middle, where the prior (dotted) is."
    )

    active = get_active_model()
    if active is not None:
        st.divider()
        st.markdown(f"Current model: **{plain(active.name)}**")
        st.page_link(LATENT_MAP_PAGE, label="Go to the latent map", icon=":material/scatter_plot:")

with theory:
    st.subheader("The model on one screen")
    st.markdown(
        "The encoder maps an example $x$ to a Gaussian $q(z\\mid x)$ in the 2-D latent space; "
        "the decoder maps a point $z$ back to a distribution $p(x\\mid z)$ over examples. "
        "The prior is a standard Gaussian:"
    )
    # Formulas are broken into short lines: KaTeX does not wrap, and the column is ~350 px
    # wide on a laptop with the sidebar open.
    st.latex(
        r"\begin{aligned}q(z\mid x)&=\mathcal N\!\big(\mu(x),\,\operatorname{diag}"
        r"\sigma^2(x)\big)\\p(z)&=\mathcal N(0, I)\end{aligned}"
    )
    st.markdown("Training maximises the evidence lower bound (ELBO):")
    st.latex(
        r"\begin{aligned}\mathrm{ELBO}(x)&=\mathbb E_{q(z\mid x)}\big[\log p(x\mid z)\big]"
        r"\\&\quad-\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)\\&\le\ \log p(x)\end{aligned}"
    )
    st.latex(r"\text{loss}=-\mathbb E_{q}\big[\log p(x\mid z)\big]+\beta\,\mathrm{KL}")
    st.caption("β = 1: the loss is −ELBO. β ≠ 1 gives a β-VAE (Higgins et al. 2017).")
    st.markdown(
        "The KL term has a closed form (Kingma & Welling 2013, App. B), and sampling is "
        "made differentiable by the **reparameterisation** $z=\\mu+\\sigma\\odot\\varepsilon$, "
        "$\\varepsilon\\sim\\mathcal N(0,I)$:"
    )
    st.latex(
        r"\mathrm{KL}=\tfrac12\sum_{j=1}^{2}\Big(\underbrace{\mu_j^2}_{\text{pull to }0}"
        r"+\underbrace{\sigma_j^2-\log\sigma_j^2-1}_{\text{keep }\sigma\approx 1}\Big)"
    )
    st.markdown(
        "**A bubble** is one example's posterior $q(z\\mid x)$ drawn as an ellipse of radii "
        "$\\sigma_1,\\sigma_2$ around $\\mu$: every $z$ inside decodes to something like $x$. "
        "Three forces shape the map:\n"
        "- **reconstruction** pushes bubbles apart and shrinks them, so that different "
        "examples stay tell-apart-able;\n"
        "- **$\\mu^2$** pulls every bubble towards the origin;\n"
        "- **$\\sigma^2-\\log\\sigma^2-1$** (smallest at $\\sigma=1$) keeps bubbles near unit size.\n\n"
        "The importance-weighted bound (Burda et al. 2016) tightens the ELBO with $K$ samples: "
        "$\\log p(x)\\ \\ge\\ \\mathrm{IWAE}_K\\ \\ge\\ \\mathrm{ELBO}$."
    )

# The quick start runs after both columns are drawn, so the page stays fresh while it trains.
if quick_start:
    with quick_start_progress.container():
        bar = st.progress(0.0, text="Loading digits…")
        # The warm-up imports what this needs (sklearn, torch._dynamo): wait for it rather than
        # import the same packages from two threads at once. Started here if it was not yet.
        start_warm_up().join(timeout=120)
        try:
            dataset = cached_dataset("digits")
            config = model_config_for(dataset, **QUICK_START_MODEL)
            train_blocking(dataset, config, QUICK_START_TRAIN, progress_bar=bar)
        except (DataError, RuntimeError) as error:
            st.error(f"Quick start failed: {plain(error)}")
        else:
            st.switch_page(LATENT_MAP_PAGE)

# Once per server, after the page's content: the quick start's one-off costs (sklearn, torch's
# first optimiser step) are paid on a background thread while the browser draws this page.
start_warm_up()

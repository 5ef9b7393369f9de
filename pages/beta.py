"""β and the bubbles: two models that differ only in β, their latent maps side by side."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from ui import presenter
from ui.active_model import get_active_model
from ui.app_entry import ensure_app_entry
from ui.components.map_layer import map_layer
from ui.explore_cache import cached
from ui.finite_checks import stop_unless_finite
from ui.loaders import cached_dataset, load_library_model, model_library
from ui.models import builtin_dataset, input_mismatch
from ui.session_keys import BETA_PAIR_KEY
from ui.text import plain
from ui.training import about, estimate_run_seconds
from vae import recipes
from vae.config_diff import Difference, config_differences
from vae.latent import encode_dataset
from vae.recipes import elbo_terms, train_beta_pair
from viz.beta import elbo_terms_figure
from viz.latent_map import bubble_data, data_bounds, latent_map_figure


def _value(value) -> str:
    """A recorded config value as text: numbers as numbers, a list (a width) in parentheses."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(f"{v:g}" if isinstance(v, float) else plain(v) for v in value) + ")"
    return plain(value, limit=40)


def what_differs(differences: list[Difference]) -> str:
    """What the two models' recorded recipes make different, and whether that is β alone."""
    if not differences:
        return (
            "The two models were trained with the same recipe: nothing but chance tells them apart."
        )
    listed = "; ".join(
        f"{plain(d.field)}: {_value(d.first)} vs {_value(d.second)}" for d in differences
    )
    fields = {d.field for d in differences}
    if fields == {"beta"}:
        return f"Same data, architecture, seed and schedule: only β differs ({listed})."
    if "beta" not in fields:
        return (
            f"Both models have the same β; they differ in {listed}. "
            "So what differs below is not an effect of β."
        )
    return (
        f"These models differ in more than β ({listed}): what differs below is not β's "
        "effect alone."
    )


def terms_caption(betas: list, terms: list[dict], differences: list[Difference]) -> str:
    """The chart's caption, read from the numbers it shows."""
    text = "Test-set terms at β = 1 (the true ELBO), one z sample per example."
    if {d.field for d in differences} != {"beta"}:
        return text  # no β lesson from models that differ otherwise (or not at all)
    big, small = (1, 0) if betas[1] > betas[0] else (0, 1)
    kl = "less" if terms[big]["kl"] < terms[small]["kl"] else "more"
    recon = "more" if terms[big]["recon"] > terms[small]["recon"] else "less"
    return (
        f"{text} The model with the larger β (β = {_value(betas[big])}) pays {kl} KL "
        f"({terms[big]['kl']:.2f} vs {terms[small]['kl']:.2f} nats) and {recon} reconstruction "
        f"({terms[big]['recon']:.2f} vs {terms[small]['recon']:.2f} nats)."
    )


SMALL_DATASETS = ("digits", "swiss-roll", "s-curve")
ensure_app_entry()  # a deep link on a cold server must still go through app.py

st.title("β and the bubbles")
st.caption(
    "The objective is reconstruction + β·KL. A larger β pulls every bubble harder towards "
    "N(0, I): the bubbles grow and overlap, the map is rounder and reconstructions blur; a "
    "smaller β lets them shrink and spread apart."
)

source = st.radio(
    "Models", ["train a pair now", "two saved models"], horizontal=True, key="beta_source"
)
pair = st.session_state[BETA_PAIR_KEY]
pair_estimate = None  # seconds the two trainings should take, for the chosen data

if source == "train a pair now":
    active = get_active_model()
    c = st.columns([1.4, 1, 1, 1.2, 1.2])
    options = list(SMALL_DATASETS)
    if active is not None and active.dataset.name not in options:
        options.insert(0, active.dataset.name)
    dataset_name = c[0].selectbox("Data", options, key="beta_dataset")
    beta_a = c[1].number_input("β₁", 0.0, 50.0, 0.2, 0.1, key="beta_a")
    beta_b = c[2].number_input("β₂", 0.0, 50.0, 1.0, 0.1, key="beta_b")
    default_epochs = min(100, max(5, recipes.PAIR_TRAIN.epochs))
    epochs = c[3].slider("Epochs", 5, 100, default_epochs, 5, key="beta_epochs")
    if active is not None and active.dataset.name == dataset_name:
        dataset = active.dataset
    else:
        dataset = cached_dataset(dataset_name)
    config = replace(recipes.PAIR_TRAIN, epochs=int(epochs))
    pair_model = recipes.quick_model_config(dataset, recipes.PAIR_HIDDEN)
    # Two runs of the same size, one after the other.
    pair_estimate = 2 * estimate_run_seconds(
        dataset, pair_model, config, max_train=recipes.MAX_QUICK_TRAIN
    )
    c[4].caption(f"{about(pair_estimate)} for both on this machine now")
    if c[4].button("Train both", key="beta_train", type="primary"):
        with st.status(f"Training two models on {plain(dataset_name)}…") as status:
            bar = st.progress(0.0)
            a, b = train_beta_pair(
                dataset,
                (beta_a, beta_b),
                config=config,
                on_progress=lambda f, m: bar.progress(f, m),
            )
            status.update(
                label=f"Trained in {a.result.seconds + b.result.seconds:.1f} s "
                f"(estimated: {about(pair_estimate)}; "
                f"at most {recipes.MAX_QUICK_TRAIN:,} training examples each)",
                state="complete",
                expanded=False,
            )
        run_id = np.random.default_rng().integers(1 << 62)  # cache keys of this pair
        pair = {
            "differences": config_differences(a.metadata, b.metadata),
            "betas": [float(q.metadata["train_config"]["beta"]) for q in (a, b)],
            "models": [
                (
                    f"β = {q.metadata['train_config']['beta']:g}",
                    q.model,
                    dataset,
                    q.test_terms,
                    f"beta:{run_id}:{i}",
                )
                for i, q in enumerate((a, b))
            ],
        }
        st.session_state[BETA_PAIR_KEY] = pair
else:
    entries = [e for e in model_library().list() if e.ok]
    if len(entries) < 2:
        st.info("Save at least two models (Models page) to compare them here, or train a pair now.")
        st.stop()
    names = [e.name for e in entries]
    c = st.columns(2)
    picks = [
        c[0].selectbox("Model 1", names, index=0, key="beta_saved_a"),
        c[1].selectbox("Model 2", names, index=1, key="beta_saved_b"),
    ]
    models, metadatas = [], []
    for name in picks:
        entry = next(e for e in entries if e.name == name)
        model, metadata = load_library_model(entry.name, entry.mtime)
        data_name = builtin_dataset(metadata)
        if data_name is None:
            st.warning(
                f"“{plain(name)}” was trained on uploaded data: pick models of a built-in dataset."
            )
            st.stop()
        dataset = cached_dataset(data_name)
        if (problem := input_mismatch(name, model, dataset)) is not None:
            st.warning(f"{plain(problem)}: pick another model.")
            st.stop()
        if model.config.latent_dim != 2:
            st.warning(
                f"“{plain(name)}” has a {model.config.latent_dim:d}-dimensional latent space; "
                "this page draws 2-D ones: pick another model."
            )
            st.stop()
        metadatas.append(metadata)
        beta = metadata.get("train_config", {}).get("beta", "?")
        key = f"library:{entry.name}:{entry.mtime}"
        terms = cached(
            (key, "beta-terms"), lambda m=model, d=dataset, md=metadata: elbo_terms(m, d.x_test, md)
        )
        models.append((f"{name} (β = {beta})", model, dataset, terms, key))
    if models[0][2].name != models[1][2].name:
        st.warning("These models were trained on different data: their maps do not compare.")
    pair = {
        "differences": config_differences(*metadatas),
        "betas": [m.get("train_config", {}).get("beta") for m in metadatas],
        "models": models,
    }

if not pair:
    when = (
        f" ({about(pair_estimate)} on {plain(dataset_name)})" if pair_estimate is not None else ""
    )
    st.info(f"Choose two β values and press **Train both**{when}.")
    st.stop()

st.caption(what_differs(pair["differences"]))
encoded = []
key_of = [key for *_, key in pair["models"]]
for label, model, dataset, terms, key in pair["models"]:
    mu, sigma = cached((key, "beta-encode"), lambda m=model, d=dataset: encode_dataset(m, d.x_test))
    stop_unless_finite(label, mu, sigma)
    encoded.append((label, dataset, terms, mu, sigma))
# One range for both maps, so that bubble sizes and spreads compare at a glance.
bounds = [data_bounds(mu, sigma) for *_, mu, sigma in encoded]
x_range = (min(b[0][0] for b in bounds), max(b[0][1] for b in bounds))
y_range = (min(b[1][0] for b in bounds), max(b[1][1] for b in bounds))
bubbles = st.radio("Bubbles", ["off", "1σ", "2σ"], index=1, horizontal=True, key="beta_bubbles")
cols = st.columns(2, gap="small")
for i, (col, (label, dataset, terms, mu, sigma)) in enumerate(zip(cols, encoded, strict=True)):
    kind = dataset.label_kind if dataset.y_test is not None else None
    fig = latent_map_figure(
        mu,
        sigma,
        dataset.y_test,
        color_kind="class" if kind == "class" else "continuous",
        class_names=dataset.class_names,
        prior_contours=True,
        height=presenter.height(480),
        title=f"{label} · KL {terms['kl']:.2f} · recon {terms['recon']:.2f} nats",
    )
    fig.update_layout(
        xaxis_range=list(x_range), yaxis_range=list(y_range), font=dict(size=presenter.font_size())
    )
    col.plotly_chart(presenter.chart(fig), key=f"beta_map_{i}", config={"displaylogo": False})
    with col:  # the bubbles, drawn by the browser for the window on screen
        map_layer(
            f"beta_map_{i}",
            key=f"beta_layer_{i}",
            bubbles=cached(
                (key_of[i], "beta-bubbles", bubbles),
                lambda mu=mu, sigma=sigma, d=dataset, k=kind: bubble_data(
                    mu,
                    sigma,
                    d.y_test,
                    color_kind="class" if k == "class" else "continuous",
                    bubbles=bubbles,
                ),
            ),
        )
    col.caption(f"mean σ = {sigma.mean():.3f} · spread of μ (std) = {mu.std(0).mean():.2f}")
st.plotly_chart(
    presenter.chart(
        elbo_terms_figure(
            {label: terms for label, _, terms, *_ in encoded},
            height=presenter.height(340),
            font_size=presenter.font_size(),
        )
    ),
    key="beta_terms",
    config={"displaylogo": False},
)
st.caption(
    terms_caption(pair["betas"], [terms for _, _, terms, *_ in encoded], pair["differences"])
)

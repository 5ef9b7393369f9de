"""The 3-D picture: data in input space (3-D), the decoder's surface, and the 2-D latent map.

Click anywhere on the latent map: the decoded point g(z) is marked on the 3-D surface.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from ui import presenter, selection
from ui.active_model import ActiveModel, get_active_model, new_model_key, set_active_model
from ui.components.map_layer import MapClick, map_layer
from ui.explore_cache import cached
from ui.frozen_figure import FrozenFigure
from ui.loaders import cached_dataset
from ui.session_keys import S3D_MODELS_KEY, S3D_Z_KEY
from ui.share import write_url
from ui.text import plain
from vae.embeddings import knn_field
from vae.latent import decode_grid, decode_latents, encode_dataset
from vae.recipes import quick_train
from viz.latent_map import bubble_data, data_bounds, latent_map_figure
from viz.surface_3d import surface_3d_figure

TOY_DATASETS = ("swiss-roll", "s-curve")


@dataclass
class Shown:
    key: str
    name: str
    model: object
    dataset: object
    is_active: bool


st.title("The 3-D picture")
st.caption(
    "Input space 3-D, latent space 2-D: a VAE trained on points of a rolled-up sheet learns a "
    "2-D code and a decoder g(z) whose image of the latent plane is a surface in 3-D."
)

active = get_active_model()
active_is_3d = active is not None and active.dataset.x_test.shape[1] == 3
c = st.columns([1.4, 1.3, 2.3])  # the Train button keeps "(swiss-roll)" whole at 1000 px
choices = (["the active model"] if active_is_3d else []) + list(TOY_DATASETS)
source = c[0].selectbox(
    "Model",
    choices,
    key="s3d_source",
    format_func=lambda s: (
        f"the active model ({active.name})" if s == "the active model" else f"train on {s}"
    ),
)
shown: Shown | None = None
if source == "the active model":
    shown = Shown(active.key, active.name, active.model, active.dataset, True)
else:
    trained = st.session_state[S3D_MODELS_KEY].get(source)
    label = "Retrain" if trained else "Train"
    if c[1].button(
        f"{label} ({plain(source)})",
        key="s3d_train",
        type="primary" if not trained else "secondary",
    ):
        dataset = cached_dataset(source)
        # Expanded while it trains: the bar and its countdown are the page's time estimate.
        with st.status(f"Training a small VAE on the {plain(source)}…", expanded=True) as status:
            bar = st.progress(0.0)
            quick = quick_train(
                dataset,
                f"{source} (3-D page)",
                on_epoch=lambda r: bar.progress(
                    r.epoch / r.epochs,
                    f"epoch {r.epoch}/{r.epochs} · about {r.eta_seconds:.0f} s left",
                ),
            )
            status.update(
                label=f"Trained in {quick.result.seconds:.1f} s · test ELBO "
                f"{quick.test_terms['elbo']:.2f} nats",
                state="complete",
                expanded=False,
            )
        trained = (new_model_key("s3d"), quick)
        st.session_state[S3D_MODELS_KEY][source] = trained
        st.session_state[S3D_Z_KEY] = None
    if trained:
        model_key, quick = trained
        shown = Shown(model_key, quick.metadata["name"], quick.model, cached_dataset(source), False)
        if c[2].button(
            "Use it as the active model",
            key="s3d_activate",
            help="So that the other pages (Compare, Aggregate posterior…) look at it.",
        ):
            set_active_model(ActiveModel(
                key=model_key, name=quick.metadata["name"], model=quick.model,
                metadata=quick.metadata, dataset=cached_dataset(source), source="session",
            ))  # fmt: skip
            st.rerun()
    else:
        c[2].caption(
            "Seconds on a CPU, more on a busy one (the bar counts down): a 3 → 128 → 128 → 2 "
            "ReLU MLP, Gaussian p(x|z)."
        )

if shown is None:
    st.info("Train a model on the swiss roll or the S-curve to see the picture.")
    st.stop()
if shown.dataset.x_test.shape[1] != 3:
    st.info("This page needs 3-D data.")
    st.stop()

x = shown.dataset.x_test  # (N, 3)
y = shown.dataset.y_test
mu, sigma = cached((shown.key, "s3d-encode"), lambda: encode_dataset(shown.model, x))
x_range, y_range = data_bounds(mu, sigma)
opts = st.columns([1, 1, 1.4, 1.4, 2.5])
show_points = opts[0].checkbox("data", value=True, key="s3d_points")
show_surface = opts[1].checkbox("decoded surface", value=True, key="s3d_surface")
bubbles = opts[2].radio("bubbles", ["off", "1σ", "2σ"], index=1, horizontal=True, key="s3d_bubbles")
n_grid = opts[3].select_slider("surface grid", [12, 24, 36, 48], value=36, key="s3d_resolution")
opts[4].caption(
    "**Click anywhere on the latent map** (right): g(z) appears as a red diamond in 3-D."
)
xs = np.linspace(*x_range, n_grid)
ys = np.linspace(*y_range, n_grid)
surface = cached((shown.key, "s3d-surface", n_grid), lambda: decode_grid(shown.model, xs, ys))
gx, gy = np.meshgrid(xs, ys)
# Colour the surface by the position t of the nearest encoded test points: where the model
# has unrolled the sheet, the decoded surface takes the colours of the data it passes through.
surface_color = (
    knn_field(mu, y, np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape)
    if y is not None
    else gx
)


def keep_toy_click(click: MapClick) -> None:
    """A click on the page's own toy model's map: not a point of the active model's data."""
    st.session_state[S3D_Z_KEY] = click.z


if shown.is_active:
    clicked, keep_click = selection.clicked(), selection.set_clicked
else:
    toy_z = st.session_state[S3D_Z_KEY]
    clicked, keep_click = (MapClick(toy_z, None) if toy_z is not None else None), keep_toy_click


left, right = st.columns([3, 2], gap="medium")
map_fig = cached(
    (shown.key, "s3d-map", presenter.is_on()),
    lambda: FrozenFigure(latent_map_figure(
        mu, sigma, y, color_kind="continuous", color_label="position t",
        height=presenter.height(520),
    ).update_layout(font=dict(size=presenter.font_size()))),
)  # fmt: skip
map_bubbles = cached(
    (shown.key, "s3d-bubbles", bubbles),
    lambda: bubble_data(mu, sigma, y, color_kind="continuous", bubbles=bubbles),
)
with right:
    # The same figure object on every run: a click never re-sends it and the zoom is kept.
    st.plotly_chart(
        presenter.chart(map_fig), key="s3d_map", config={"displaylogo": False, "scrollZoom": True}
    )
    click, fresh = map_layer(
        "s3d_map", key="s3d_click", bubbles=map_bubbles, points=mu, clicked=clicked,
        on_click=keep_click,
    )  # fmt: skip
    if fresh and shown.is_active:
        write_url()  # the link now carries the clicked z
    clicked = click.z if click is not None else None
marker = None
if clicked is not None:
    marker = decode_latents(shown.model, np.asarray(clicked, np.float32)[None])[0]
with left:
    st.plotly_chart(
        presenter.chart(surface_3d_figure(
            x, y, surface, surface_color=surface_color, marker=marker, height=presenter.height(560),
            show_points=show_points, show_surface=show_surface, font_size=presenter.font_size(),
        )),
        key="s3d_figure",
        config={"displaylogo": False},
    )  # fmt: skip
if clicked is not None and marker is not None:
    st.caption(
        f"z = ({clicked[0]:.2f}, {clicked[1]:.2f}) → g(z) = "
        f"({marker[0]:.2f}, {marker[1]:.2f}, {marker[2]:.2f}) (standardised units). "
        "The surface is the decoder's image of the latent grid over the map's range, coloured "
        "by the position t of the nearest encoded points; dark lines are latent grid lines."
    )

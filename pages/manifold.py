"""Manifold & samples: the decoded latent grid beside (or under) the latent map, and prior samples."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import presenter
from ui.colourings import colour_values
from ui.explore_cache import cached
from ui.guards import require_2d_model
from ui.session_keys import MANIFOLD_SEED_KEY
from ui.text import download_name, plain
from ui.view_cache import latent_view
from vae.latent import decode_grid, decode_latents, latent_grid
from viz.export import gallery_png, grid_png
from viz.latent_map import latent_map_figure
from viz.manifold import add_mosaic_image, add_prior_samples, latent_mosaic, manifold_beside_map

st.title("Manifold & samples")
active = require_2d_model()
view = latent_view(active)
shape = active.dataset.image_shape
if shape is None:
    st.info(
        f"This model's data ({plain(active.dataset.name)}) are {view.x.shape[1]:d}-dimensional vectors, "
        "not images, so a decoded grid cannot be drawn as pictures. For 3-D data the "
        "**3-D picture** page draws the decoder's image of the latent grid as a surface."
    )
    st.page_link("pages/surface_3d.py", label="3-D picture", icon=":material/view_in_ar:")
    st.stop()

values, kind, label = colour_values(view, "label")
height = presenter.height(560)
font = presenter.font_size()


def base_map(title: str | None = None) -> go.Figure:
    fig = latent_map_figure(
        view.mu,
        view.sigma,
        values,
        color_kind=kind,
        class_names=view.class_names,
        color_label=label,
        height=height,
        title=title,
    )
    fig.update_layout(font=dict(size=font), showlegend=False)
    return fig


grid_tab, samples_tab = st.tabs(["Decoded grid", "Samples z ~ N(0, I)"])

with grid_tab:
    c = st.columns([1.3, 1.2, 1.6, 1.6])
    spacing_label = c[0].radio(
        "Spacing",
        ["linear", "Gaussian quantiles"],
        horizontal=True,
        key="manifold_spacing",
        help="Quantiles: z = Φ⁻¹(p) for evenly spaced p, so every tile stands for the same prior "
        "probability (Kingma & Welling 2013, Fig. 4).",
    )
    spacing = "quantile" if spacing_label == "Gaussian quantiles" else "linear"
    n = c[1].slider("Grid size", 5, 30, 15, key="manifold_n")
    extent = c[2].slider(
        "Range ±",
        0.5,
        6.0,
        3.0,
        0.5,
        key="manifold_range",
        disabled=spacing == "quantile",
        help="Linear spacing covers [−r, r]²; quantile spacing is set by the prior.",
    )
    layout = c[3].radio(
        "Show", ["beside the map", "under the map"], horizontal=True, key="manifold_layout"
    )
    xs, ys = latent_grid(n, (-extent, extent), (-extent, extent), spacing)
    decoded = cached(
        (active.key, "manifold-grid", n, extent, spacing),
        lambda: decode_grid(active.model, xs, ys),  # (ny, nx, D), row 0 at the lowest z2
    )
    images = decoded.reshape(len(ys), len(xs), *shape)
    mosaic, x_extent, y_extent = latent_mosaic(images, xs, ys)
    frame = dict(
        type="rect",
        x0=x_extent[0],
        x1=x_extent[1],
        y0=y_extent[0],
        y1=y_extent[1],
        line=dict(color="black", width=1, dash="dash"),
    )
    if layout == "beside the map":
        fig_map = base_map()
        fig = manifold_beside_map(fig_map, mosaic, x_extent, y_extent, xs, ys, height, font)
        fig.add_shape(**frame, row=1, col=1)
        st.plotly_chart(presenter.chart(fig), key="manifold_beside", config={"displaylogo": False})
        st.caption(
            "One pair of axes for both: each region of the map (left) sits level with what the "
            "decoder makes of it (right), and zooming either side zooms both. The dashed frame "
            "is the decoded area; hover a tile for its z."
        )
    else:
        opacity = st.slider("Grid opacity", 0.1, 1.0, 0.6, 0.05, key="manifold_opacity")
        fig = base_map()
        add_mosaic_image(fig, mosaic, x_extent, y_extent, opacity=opacity)
        fig.add_shape(**frame)
        st.plotly_chart(presenter.chart(fig), key="manifold_overlay", config={"displaylogo": False})
        st.caption("The decoded grid drawn under the test points, in latent coordinates.")
    st.download_button(
        "Decoded grid (PNG)",
        grid_png(decoded, shape),
        file_name=download_name(active.name, f"-grid-{spacing}-{n}x{n}.png"),
        mime="image/png",
        key="manifold_grid_png",
    )

with samples_tab:
    c = st.columns([1, 1, 3])
    n_samples = c[0].select_slider(
        "Samples", [8, 16, 32, 48, 64], value=32, key="manifold_n_samples"
    )
    if c[1].button("Resample", key="manifold_resample", icon=":material/casino:"):
        st.session_state[MANIFOLD_SEED_KEY] += 1
    seed = st.session_state[MANIFOLD_SEED_KEY]
    z = np.random.default_rng(seed).standard_normal((n_samples, 2)).astype(np.float32)
    samples = decode_latents(active.model, z)  # (S, D)
    cols = 8
    png = gallery_png(samples, shape, cols=cols)
    left, right = st.columns([3, 2])
    left.image(
        png,
        caption=f"{n_samples:d} samples z ~ N(0, I) (draw #{seed:d})",
        output_format="PNG",
        width=presenter.image_width(),
    )
    fig = add_prior_samples(base_map("where these samples come from"), z)
    fig.update_layout(height=presenter.height(440))
    right.plotly_chart(
        presenter.chart(fig), key="manifold_samples_map", config={"displaylogo": False}
    )
    st.caption(
        "Samples are numbered left to right, top to bottom. Samples that fall between the "
        "clusters of the map decode to blends or blurs: see the Aggregate posterior page."
    )
    st.download_button(
        "Samples (PNG)",
        png,
        file_name=download_name(active.name, f"-samples-{seed}.png"),
        mime="image/png",
        key="manifold_samples_png",
    )

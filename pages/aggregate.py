"""Aggregate posterior vs prior: where q(z) = mean of the bubbles leaves holes in N(0, I)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import presenter
from ui.explore_cache import cached, is_cached
from ui.guards import require_2d_model
from ui.text import download_name
from ui.view_cache import latent_view
from vae.density import MAX_COMPONENTS, aggregate_density, find_holes, hole_mask, kl_forces
from vae.latent import decode_latents
from viz.aggregate import density_figure, kl_forces_figure
from viz.export import latent_csv
from viz.plots import display_factor, to_png_bytes

HOLE_PICTURE_PX = 112  # on-screen width of each decoded hole (presenter mode: larger)

st.title("Aggregate posterior vs prior")
active = require_2d_model()
view = latent_view(active)
if view.mu.shape[1] != 2:
    st.info("The density is drawn on the latent plane: this page needs a 2-D latent space.")
    st.stop()

st.caption(
    "q(z) = (1/N) Σᵢ N(z; μᵢ, diag σᵢ²) is the density of codes the decoder was trained on. "
    "Where the prior N(0, I) puts mass but q(z) does not — the **holes** — samples z ~ p(z) "
    "decode to things the decoder never learned to draw."
)
c = st.columns([1.2, 1.2, 1.2, 2])
resolution = c[0].select_slider("Grid", [100, 150, 200, 300], value=200, key="agg_resolution")
extent = c[1].slider("Range ±", 2.0, 8.0, 4.0, 0.5, key="agg_range")
ratio = c[2].select_slider(
    "Hole: q/p below",
    [0.02, 0.05, 0.1, 0.2, 0.5],
    value=0.1,
    key="agg_ratio",
    help="A grid cell inside the prior's 2σ disc is part of a hole when q(z) < this × p(z).",
)
key = (active.key, "aggregate", resolution, extent)
if not is_cached(key):  # computed once per model and grid; progress while it runs
    with st.status(
        f"Mixture of {min(len(view.mu), MAX_COMPONENTS):,} Gaussians on a "
        f"{resolution:d}×{resolution:d} grid…"
    ) as status:
        bar = st.progress(0.0)
        cached(
            key,
            lambda: aggregate_density(
                view.mu,
                view.sigma,
                (-extent, extent),
                (-extent, extent),
                resolution,
                progress=bar.progress,
            ),
        )
        status.update(label="Density computed", state="complete", expanded=False)
grid = cached(key, lambda: None)  # present: computed above or on an earlier run
mask = hole_mask(grid, ratio)
holes = find_holes(grid, ratio)
note = (
    f" (a random subsample of {grid.n_components:,} of the {grid.n_total:,} test points)"
    if grid.subsampled
    else f" ({grid.n_total:,} test points)"
)
st.plotly_chart(
    presenter.chart(
        density_figure(
            grid, holes, mask, height=presenter.height(520), font_size=presenter.font_size()
        )
    ),
    key="agg_density",
    config={"displaylogo": False},
)
prior_in_holes = sum(h.prior_mass for h in holes)
forces = kl_forces(view.mu, view.sigma)
mean_kl = float(view.kl.mean())
marginal_kl = grid.kl_q_to_p()
m = st.columns(4)
m[0].metric("holes", len(holes), help="Connected regions, largest prior mass first.")
m[1].metric(
    "prior samples landing in holes",
    f"{100 * prior_in_holes:.1f} %",
    help="P(z ∈ holes) for z ~ N(0, I): the share of generated samples decoded from a hole.",
)
m[2].metric(
    "KL(q(z) ‖ p(z))",
    f"{marginal_kl:.3f} nats",
    help="The 'marginal KL' by quadrature on the grid (Hoffman & Johnson 2016).",
)
m[3].metric(
    "mutual information I(x; z) ≈",
    f"{max(0.0, mean_kl - marginal_kl):.2f} nats",
    help="mean KL(q(z|x) ‖ p(z)) = I(x; z) + KL(q(z) ‖ p(z)): the part of the KL that "
    "carries information about x.",
)
st.caption(f"Mass of q on the grid: {grid.mass(grid.log_q):.3f}{note}.")

shape = active.dataset.image_shape
if holes and shape is not None:
    st.subheader("What the holes decode to")
    dense = np.unravel_index(np.argsort(grid.log_q, axis=None)[::-1][:1], grid.log_q.shape)
    best = np.array([[grid.xs[dense[1][0]], grid.ys[dense[0][0]]]])
    centers = np.array([h.center for h in holes[:8]], dtype=np.float32)
    decoded = decode_latents(active.model, np.vstack([best, centers]))
    images = decoded.reshape(-1, *shape)
    # One st.image with one picture per z: every picture the same width on screen (a strip
    # of holes beside a lone picture was scaled to its column, so the two differed in size).
    st.image(
        [to_png_bytes(image, display_factor(shape, 112)) for image in images],
        caption=[f"densest z ({best[0, 0]:.1f}, {best[0, 1]:.1f})"]
        + [
            f"hole {i + 1:d} ({h.center[0]:.1f}, {h.center[1]:.1f}), {100 * h.prior_mass:.1f} %"
            for i, h in enumerate(holes[: len(centers)])
        ],
        output_format="PNG",
        width=presenter.height(HOLE_PICTURE_PX),
    )

recon = active.metadata.get("test_metrics", {}).get("recon")
recon = float(recon) if isinstance(recon, (int, float)) and np.isfinite(recon) else None
if recon is not None:
    st.subheader("The three bubble forces")
else:  # the reconstruction term was not recorded with this model: two bars, said so
    st.subheader("The KL's two bubble forces, per latent dimension")
st.plotly_chart(
    presenter.chart(
        kl_forces_figure(
            forces, recon=recon, height=presenter.height(360), font_size=presenter.font_size()
        )
    ),
    key="agg_forces",
    config={"displaylogo": False},
)
active_dims = [f"z{d + 1:d}" for d in np.flatnonzero(forces.active)]
st.caption(
    "Active units (dimensions whose mean μ varies with x: variance over x above 0.01, "
    "Burda et al. 2016): "
    f"{', '.join(active_dims) or 'none'} of {len(forces.active)} · Var(μ) = "
    + ", ".join(f"{v:.3f}" for v in forces.mu_variance)
    + ". ½μ² pulls every bubble to the origin; ½(σ² − log σ² − 1) holds its size near 1; the "
    "reconstruction term pushes bubbles apart and shrinks them so that codes stay distinguishable"
    + ("." if recon is not None else " (it was not recorded with this model).")
)

st.download_button(
    "Latent coordinates (CSV)",
    latent_csv(view.mu, view.sigma, view.kl, view.recon_nll, view.y, view.class_names),
    file_name=download_name(active.name, "-latents.csv"),
    mime="text/csv",
    key="agg_csv",
    help="index, label, μ, σ, KL and reconstruction error of every test point shown.",
)

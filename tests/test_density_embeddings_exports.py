"""The explore pages' computations: the aggregate posterior's density, holes and KL forces, the
embeddings and their k-NN scores, the exports (CSV, PNG), the manifold mosaic, and their figures."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

from vae.density import (
    aggregate_density,
    find_holes,
    grid_mixture_density,
    kl_forces,
    log_prior,
    mixture_log_density,
    subsample_components,
)
from vae.embeddings import compute_embeddings, knn_holdout_score, knn_scores
from vae.latent import latent_grid
from vae.losses import gaussian_kl
from viz.aggregate import density_figure, kl_forces_figure
from viz.beta import elbo_terms_figure
from viz.compare import embedding_figure
from viz.export import gallery_png, grid_png, latent_csv
from viz.manifold import cell_edges, latent_mosaic, manifold_beside_map
from viz.surface_3d import surface_3d_figure


@pytest.fixture
def mixture():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(300, 2))
    sigma = np.exp(rng.normal(-1.0, 0.3, size=(300, 2)))
    return mu, sigma


def test_mixture_density_matches_torch_distributions(mixture):
    mu, sigma = mixture
    z = np.random.default_rng(1).normal(size=(50, 2)) * 2
    components = torch.distributions.Independent(
        torch.distributions.Normal(torch.as_tensor(mu), torch.as_tensor(sigma)), 1
    )
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(len(mu), dtype=torch.float64)), components
    )
    reference = mix.log_prob(torch.as_tensor(z)).numpy()
    np.testing.assert_allclose(
        mixture_log_density(z, mu, sigma, chunk_elements=512), reference, atol=1e-9
    )


def test_grid_density_agrees_with_pointwise_and_integrates_to_one(mixture):
    mu, sigma = mixture
    grid = aggregate_density(mu, sigma, (-7, 7), (-7, 7), resolution=120)
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    z = np.stack([gx.ravel(), gy.ravel()], 1)
    pointwise = mixture_log_density(z, mu, sigma).reshape(gx.shape)
    np.testing.assert_allclose(grid.log_q, pointwise, atol=1e-8)
    assert grid.mass(grid.log_q) == pytest.approx(1.0, abs=2e-3)
    assert grid.mass(grid.log_p) == pytest.approx(1.0, abs=2e-3)
    np.testing.assert_allclose(log_prior(np.zeros(2)), -math.log(2 * math.pi))


def test_grid_density_chunks_and_progress(mixture):
    mu, sigma = mixture
    xs = ys = np.linspace(-3, 3, 31)
    seen = []
    chunked = grid_mixture_density(xs, ys, mu, sigma, chunk=7, progress=seen.append)
    whole = grid_mixture_density(xs, ys, mu, sigma)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12)
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_kl_q_to_p_is_zero_for_the_prior_itself():
    # One component N(0, I) *is* the prior: q = p and KL(q || p) = 0; the grid sum agrees.
    grid = aggregate_density(np.zeros((1, 2)), np.ones((1, 2)), (-8, 8), (-8, 8), 161)
    assert grid.kl_q_to_p() == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(grid.log_q, grid.log_p, atol=1e-9)


def test_holes_found_where_the_constructed_posterior_leaves_a_gap():
    # Bubbles on a ring of radius 2.2 leave the centre of the prior empty: one hole at 0.
    theta = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    mu = 2.2 * np.stack([np.cos(theta), np.sin(theta)], 1)
    sigma = np.full_like(mu, 0.3)
    grid = aggregate_density(mu, sigma, (-4, 4), (-4, 4), 161)
    holes = find_holes(grid, ratio=0.1, prior_radius=2.0)
    assert len(holes) == 1
    assert np.hypot(*holes[0].center) < 0.1
    assert 0.2 < holes[0].prior_mass < 1.0  # most of the prior's inner mass falls in the gap


def test_no_holes_when_the_aggregate_posterior_matches_the_prior():
    samples = np.random.default_rng(0).normal(size=(4000, 2)) * 0.9
    grid = aggregate_density(samples, np.full_like(samples, 0.45), resolution=101)
    assert find_holes(grid) == []


def test_subsampling_is_reported():
    mu = np.random.default_rng(0).normal(size=(50, 2))
    sub_mu, sub_sigma = subsample_components(mu, np.ones_like(mu), max_components=20)
    assert len(sub_mu) == len(sub_sigma) == 20
    grid = aggregate_density(mu, np.ones_like(mu), resolution=10, max_components=20)
    assert grid.subsampled and grid.n_components == 20 and grid.n_total == 50


def test_density_rejects_bad_input():
    with pytest.raises(ValueError, match="k must be 2"):
        aggregate_density(np.zeros((3, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="at least one component"):
        grid_mixture_density(np.zeros(2), np.zeros(2), np.zeros((0, 2)), np.zeros((0, 2)))


def test_kl_forces_sum_to_the_library_kl_per_dimension(mixture):
    mu, sigma = mixture
    mu = mu * np.array([1.0, 0.01])  # dimension 2 barely moves: inactive
    forces = kl_forces(mu, sigma)
    logvar = torch.as_tensor(2 * np.log(sigma))
    per_dimension = gaussian_kl(torch.as_tensor(mu), logvar).mean(0).numpy()  # K&W App. B
    np.testing.assert_allclose(forces.total, per_dimension, rtol=1e-5)
    assert forces.active.tolist() == [True, False]
    assert (forces.pull_to_origin >= 0).all() and (forces.unit_size >= 0).all()


@pytest.mark.slow
def test_embeddings_shapes_subsample_and_knn_range():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    x = rng.normal(size=(120, 10)).astype(np.float32) + 4 * y[:, None]  # three clean clusters
    mu = rng.normal(size=(120, 2)).astype(np.float32)  # a useless "VAE": random means
    stages = []
    emb = compute_embeddings(x, mu, max_points=90, progress=stages.append)
    assert emb.subsampled and len(emb.indices) == 90 and len(set(emb.indices)) == 90
    for points in emb.as_dict().values():
        assert points.shape == (90, 2) and np.isfinite(points).all()
    np.testing.assert_array_equal(emb.vae, mu[emb.indices])
    assert any("t-SNE" in s for s in stages)
    scores = knn_scores(emb, y)
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert scores["PCA"] > 0.95 and scores["t-SNE"] > 0.95  # clusters are separable
    assert scores["VAE μ"] < 0.7  # random means carry no class information


def test_knn_score_for_continuous_labels_is_r2():
    t = np.linspace(0, 1, 200)
    good = np.stack([t, np.zeros_like(t)], 1)
    assert knn_holdout_score(good, t, kind="continuous") > 0.95
    with pytest.raises(ValueError):
        knn_holdout_score(good, t[:10])


def test_latent_csv_columns_and_values():
    mu = np.array([[0.5, -1.0], [2.0, 0.25]])
    sigma = np.array([[0.1, 0.2], [0.3, 0.4]])
    text = latent_csv(
        mu, sigma, np.array([1.5, 2.5]), np.array([3.0, 4.0]), np.array([0, 1]), ("zero", "one")
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "index",
        "label",
        "mu_1",
        "mu_2",
        "sigma_1",
        "sigma_2",
        "kl",
        "recon_nll",
    ]
    assert (
        rows[1]["label"] == "one" and float(rows[1]["mu_1"]) == 2.0 and float(rows[0]["kl"]) == 1.5
    )
    unlabelled = list(csv.DictReader(io.StringIO(latent_csv(mu, sigma, [1, 2], [3, 4]))))
    assert unlabelled[0]["label"] == ""
    with pytest.raises(ValueError):
        latent_csv(mu, sigma, np.array([1.0]), np.array([3.0, 4.0]))


def test_grid_and_gallery_png_orientation():
    # Tile (row 0 = lowest z2) is all black, the top row all white: the PNG puts white on top.
    decoded = np.zeros((2, 3, 4))
    decoded[1] = 1.0
    image = np.asarray(Image.open(io.BytesIO(grid_png(decoded, (2, 2)))))
    assert image[0, 0] == 255 and image[-1, 0] == 0
    gallery = Image.open(io.BytesIO(gallery_png(np.full((5, 4), 0.5), (2, 2), cols=3)))
    assert gallery.format == "PNG" and gallery.width > gallery.height


def test_cell_edges_and_mosaic_places_tiles_in_latent_units():
    xs, _ = latent_grid(5, spacing="quantile")
    edges = cell_edges(xs)
    assert len(edges) == 6 and np.all(np.diff(edges) > 0)
    np.testing.assert_allclose((edges[1:] + edges[:-1])[1:-1] / 2, xs[1:-1], atol=0.2)
    # Tile (row r, col c) has value (r * 3 + c) / 8: read it back at its z.
    values = (np.arange(9).reshape(3, 3) / 8.0)[:, :, None, None] * np.ones((3, 3, 2, 2))
    xs = ys = np.array([-1.0, 0.0, 1.0])
    mosaic, x_ext, y_ext = latent_mosaic(values, xs, ys, pixels=300)
    assert mosaic.shape[2] == 4 and x_ext == (-1.5, 1.5) and y_ext == (-1.5, 1.5)
    h, w = mosaic.shape[:2]
    for r, zy in enumerate(ys):
        for c, zx in enumerate(xs):
            px = int((zx - x_ext[0]) / 3.0 * w)
            py = int((y_ext[1] - zy) / 3.0 * h)
            assert abs(int(mosaic[py, px, 0]) - round(255 * (r * 3 + c) / 8)) <= 1


def test_figures_build():
    values = np.random.default_rng(0).random((4, 4, 3, 3))
    xs = ys = np.linspace(-2, 2, 4)
    mosaic, xe, ye = latent_mosaic(values, xs, ys)
    from viz.latent_map import latent_map_figure

    base = latent_map_figure(np.zeros((5, 2)), np.ones((5, 2)), np.arange(5))
    fig = manifold_beside_map(base, mosaic, xe, ye, xs, ys)
    assert len(fig.layout.images) == 1 and fig.layout.images[0].xref == "x2"
    assert fig.layout.xaxis2.matches == "x" and fig.layout.xaxis.range == base.layout.xaxis.range
    surface = np.random.default_rng(1).normal(size=(6, 7, 3))
    fig3 = surface_3d_figure(np.zeros((10, 3)), np.arange(10.0), surface, marker=np.ones(3))
    kinds = [type(t).__name__ for t in fig3.data]
    assert kinds.count("Surface") == 1 and fig3.data[-1].name == "decoded clicked z"
    with pytest.raises(ValueError):
        surface_3d_figure(np.zeros((10, 2)), None, surface)
    theta = np.linspace(0, 2 * np.pi, 100, endpoint=False)
    mu = 2.2 * np.stack([np.cos(theta), np.sin(theta)], 1)
    grid = aggregate_density(mu, np.full_like(mu, 0.3), resolution=60)
    from vae.density import hole_mask

    dfig = density_figure(grid, find_holes(grid), hole_mask(grid))
    assert any(isinstance(t, go.Contour) for t in dfig.data)
    circles = [t for t in dfig.data if t.name == "prior N(0, I): 1, 2, 3σ"]
    assert sorted(t.xaxis for t in circles) == ["x", "x", "x", "x2", "x2", "x2"]  # both panels
    assert [t.showlegend for t in circles].count(True) == 1
    assert np.allclose(np.hypot(circles[-1].x, circles[-1].y), 3.0)  # the 3σ circle
    assert isinstance(kl_forces_figure(kl_forces(mu, np.full_like(mu, 0.3)), recon=12.0), go.Figure)
    labels = np.repeat(np.arange(2), 5)
    highlight = labels == 1
    efig = embedding_figure(
        {"A": np.zeros((10, 2)), "B": np.ones((10, 2))},
        np.arange(10),
        labels,
        "class",
        highlight=highlight,
        scores={"A": 0.5},
    )
    assert efig.layout.annotations[0].text.endswith("0.500")
    highlighted = [t for t in efig.data if t.name == "highlighted"]
    assert len(highlighted) == 2 and list(highlighted[0].customdata) == [5, 6, 7, 8, 9]
    bars = elbo_terms_figure({"β=1": {"recon": 10, "kl": 3, "elbo": -13}})
    assert list(bars.data[0].y) == [10, 3, 13]

"""The VAE's latent means beside PCA and t-SNE of the same points, and how well k-NN does in each.

t-SNE is O(N log N) with a large constant and has no transform for new points, so every
embedding is computed on one shared subsample (at most MAX_TSNE_POINTS) and k-NN accuracy is
measured by a fixed stratified hold-out split *within* that subsample, the same for all three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

MAX_TSNE_POINTS = 3000  # a few seconds of Barnes-Hut t-SNE on 2 CPU cores
TSNE_ITERATIONS = 500
MIN_POINTS = 5  # t-SNE's perplexity and a k-NN score need a few points
PCA_BEFORE_TSNE = 50  # the usual preprocessing (van der Maaten & Hinton 2008): denoise, speed up


@dataclass(frozen=True)
class Embeddings:
    """Three 2-D pictures of the same points: rows of every array line up with `indices`."""

    indices: np.ndarray  # (n,) positions in the full (test) set that were embedded
    vae: np.ndarray  # (n, 2) posterior means
    pca: np.ndarray  # (n, 2)
    tsne: np.ndarray  # (n, 2)
    pca_explained: float  # share of the variance the two principal components keep
    n_total: int  # points available before subsampling

    @property
    def subsampled(self) -> bool:
        return len(self.indices) < self.n_total

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"VAE μ": self.vae, "PCA": self.pca, "t-SNE": self.tsne}


def subsample_indices(n: int, max_points: int = MAX_TSNE_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted positions of at most max_points of n, drawn uniformly without replacement."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, float]:
    """(n, D) -> (n, 2) principal-component scores and the share of variance they explain.

    Data of one feature have one component: the second coordinate is then 0 (all of the
    variance is explained by the first)."""
    x = _two_columns(np.asarray(x, dtype=np.float32))
    pca = PCA(n_components=2, random_state=0).fit(x)
    explained = float(np.nan_to_num(pca.explained_variance_ratio_).sum())
    return pca.transform(x).astype(np.float32), explained


def _two_columns(x: np.ndarray) -> np.ndarray:
    """(n, D) as is when D >= 2, else with a column of zeros: a plane needs two axes."""
    if x.shape[1] >= 2:
        return x
    return np.hstack([x, np.zeros((len(x), 2 - x.shape[1]), dtype=x.dtype)])


def tsne_2d(x: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """(n, D) -> (n, 2) t-SNE (Barnes-Hut, PCA init), after PCA to 50 dimensions when D > 50."""
    x = _two_columns(np.asarray(x, dtype=np.float32))  # its PCA initialisation needs two
    if x.shape[1] > PCA_BEFORE_TSNE and len(x) > PCA_BEFORE_TSNE:
        x = PCA(n_components=PCA_BEFORE_TSNE, random_state=seed).fit_transform(x)
    # perplexity must be below n; tiny sets (tests) get a proportionate one.
    perplexity = min(perplexity, max(2.0, (len(x) - 1) / 3))
    # 500 iterations (250 of them early exaggeration) and angle 0.6 instead of sklearn's 1000
    # and 0.5: 37 s instead of ~170 s for 3000 Fashion-MNIST points on 2 busy cores (load 12,
    # measured); with PCA initialisation the picture is already settled by then.
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        random_state=seed,
        max_iter=TSNE_ITERATIONS,
        angle=0.6,
    )
    return tsne.fit_transform(x).astype(np.float32)


def compute_embeddings(
    x: np.ndarray,
    mu: np.ndarray,
    max_points: int = MAX_TSNE_POINTS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Embeddings:
    """VAE means, PCA and t-SNE of one shared subsample of x (N, D) whose means are mu (N, 2)."""
    x = np.asarray(x, dtype=np.float32)
    mu = np.asarray(mu, dtype=np.float32)
    if len(x) != len(mu):
        raise ValueError(f"x has {len(x)} rows but mu has {len(mu)}")
    if len(x) < MIN_POINTS:
        raise ValueError(f"at least {MIN_POINTS} points are needed to compare embeddings")
    indices = subsample_indices(len(x), max_points, seed)
    sub = x[indices]
    if progress:
        progress(f"PCA of {len(indices):,} points")
    pca, explained = pca_2d(sub)
    if progress:
        progress(f"t-SNE of {len(indices):,} points")
    tsne = tsne_2d(sub, seed=seed)
    return Embeddings(
        indices=indices,
        vae=mu[indices],
        pca=pca,
        tsne=tsne,
        pca_explained=explained,
        n_total=len(x),
    )


def knn_holdout_score(
    embedding: np.ndarray,
    labels: np.ndarray,
    kind: str = "class",
    k: int = 5,
    test_size: float = 0.3,
    seed: int = 0,
) -> float:
    """k-NN on a fixed hold-out split of the embedding: accuracy for classes, R^2 otherwise.

    The split depends only on (n, labels, seed), so all embeddings of the same points are
    scored on exactly the same train/test examples.
    """
    labels = np.asarray(labels)
    if len(labels) != len(embedding):
        raise ValueError(f"{len(labels)} labels for {len(embedding)} points")
    classification = kind == "class"
    stratify = None
    if classification:
        _, counts = np.unique(labels, return_counts=True)
        stratify = labels if counts.min() >= 2 else None  # stratifying needs 2 per class
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=test_size, random_state=seed, stratify=stratify
    )
    k = max(1, min(k, len(train_idx)))
    model = KNeighborsClassifier(k) if classification else KNeighborsRegressor(k)
    model.fit(embedding[train_idx], labels[train_idx])
    return float(model.score(embedding[test_idx], labels[test_idx]))


def knn_field(points: np.ndarray, values: np.ndarray, query: np.ndarray, k: int = 10) -> np.ndarray:
    """A label carried from embedded points (n, 2) to any query points (m, 2): the
    distance-weighted mean of the k nearest neighbours' values, (m,)."""
    k = max(1, min(k, len(points)))
    model = KNeighborsRegressor(k, weights="distance").fit(points, np.asarray(values, np.float64))
    return model.predict(query)


def knn_scores(
    embeddings: Embeddings, labels: np.ndarray, kind: str = "class", k: int = 5
) -> dict[str, float]:
    """{embedding name: k-NN score} on the shared split; labels are for the full set (N,)."""
    sub_labels = np.asarray(labels)[embeddings.indices]
    return {
        name: knn_holdout_score(points, sub_labels, kind=kind, k=k)
        for name, points in embeddings.as_dict().items()
    }


__all__ = [
    "MAX_TSNE_POINTS",
    "MIN_POINTS",
    "Embeddings",
    "compute_embeddings",
    "knn_field",
    "knn_holdout_score",
    "knn_scores",
    "pca_2d",
    "subsample_indices",
    "tsne_2d",
]

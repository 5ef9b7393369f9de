"""Compare embeddings: the VAE's latent means beside PCA and t-SNE of the same points."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import presenter, selection
from ui.explore_cache import cached, is_cached
from ui.guards import require_2d_model
from ui.session_keys import COMPARE_LAST_EVENT_KEY
from ui.share import write_url
from ui.view_cache import latent_view
from vae.embeddings import MAX_TSNE_POINTS, MIN_POINTS, compute_embeddings, knn_scores
from viz.compare import embedding_figure

st.title("Compare embeddings")
active = require_2d_model()
view = latent_view(active)
if len(view.x) < MIN_POINTS:  # a small upload's test split (10 rows give 2 test points)
    st.info(
        f"This model's test set has {len(view.x):d} points; comparing embeddings needs at least "
        f"{MIN_POINTS:d}. Upload a file with more rows to compare them here."
    )
    st.stop()

key = (active.key, "embeddings", MAX_TSNE_POINTS)
if not is_cached(key):  # t-SNE takes seconds: once per model, with progress
    with st.status("Embedding the test set…") as status:
        cached(key, lambda: compute_embeddings(view.x, view.mu, progress=status.write))
        status.update(label="Embeddings computed", state="complete", expanded=False)
emb = cached(key, lambda: None)

labels = view.y[emb.indices] if view.y is not None else None
kind = view.label_kind if view.y is not None else None
scores = None
if view.y is not None:
    scores = cached(
        (active.key, "knn", MAX_TSNE_POINTS),
        lambda: knn_scores(emb, view.y, kind="class" if kind == "class" else "continuous"),
    )

c = st.columns([1.5, 1.2, 3])
highlight_class = None
if kind == "class" and labels is not None:
    classes = [int(v) for v in np.unique(labels)]
    names = view.class_names

    def _name(c: int | None) -> str:
        if c is None:
            return "none"
        return f"{c}: {names[c]}" if names and 0 <= c < len(names) else str(c)

    highlight_class = c[0].selectbox(
        "Highlight a class", [None, *classes], format_func=_name, key="compare_class"
    )
if c[1].button("Clear selection", key="compare_clear", icon=":material/deselect:"):
    selection.set_selected([])
    write_url()
c[2].caption(
    "Click a point or lasso some: they are highlighted in all three pictures. The same colours "
    "mean the same labels everywhere."
)

selected = set(selection.selected())
highlight = np.isin(emb.indices, list(selected))
if highlight_class is not None:
    highlight |= labels.astype(int) == highlight_class
fig = embedding_figure(
    emb.as_dict(),
    emb.indices,
    labels,
    kind,
    view.class_names,
    highlight=highlight,
    scores=scores,
    height=presenter.height(480),
    font_size=presenter.font_size(),
)
event = st.plotly_chart(
    presenter.chart(fig),
    key="compare_chart",
    on_select="rerun",
    selection_mode=("points", "lasso", "box"),
    config={"displaylogo": False},
)


def _ids(points) -> list[int]:
    ids = []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, (int, float)) and 0 <= int(data) < len(view.mu):
            ids.append(int(data))
    return ids


points = (event or {}).get("selection", {}).get("points", []) if event else []
signature = tuple(sorted(_ids(points)))
if signature and signature != st.session_state[COMPARE_LAST_EVENT_KEY]:
    st.session_state[COMPARE_LAST_EVENT_KEY] = signature
    selection.set_selected(signature)
    write_url()  # the link now carries the selection
    st.rerun()  # draw the highlight in every panel

notes = []
if emb.subsampled:
    notes.append(
        f"{len(emb.indices):,} of {emb.n_total:,} test points (a fixed random subsample: t-SNE "
        "on more takes too long for a page)"
    )
notes.append(f"PCA keeps {100 * emb.pca_explained:.1f} % of the variance")
if scores is not None:
    what = "accuracy" if kind == "class" else "R²"
    notes.append(
        f"k-NN (k = 5) {what} on the same 70/30 split of those points: "
        + ", ".join(f"{name} {value:.3f}" for name, value in scores.items())
    )
st.caption(" · ".join(notes) + ".")
if selected:
    st.caption(
        f"Selected points: {', '.join(f'{i:d}' for i in sorted(selected)[:30])}"
        + (" …" if len(selected) > 30 else "")
    )

"""Compare embeddings: several 2-D embeddings of the same points side by side, linked by point id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .latent_map import PALETTE
from .text import plotly_text


def class_colors(labels: np.ndarray) -> dict[int, str]:
    """{class id: colour} exactly as the latent map assigns them (sorted ids, PALETTE order)."""
    return {int(c): PALETTE[i % len(PALETTE)] for i, c in enumerate(np.unique(labels.astype(int)))}


def embedding_figure(
    embeddings: Mapping[str, np.ndarray],
    ids: np.ndarray,
    labels: np.ndarray | None,
    label_kind: str | None,
    class_names: Sequence[str] | None = None,
    highlight: np.ndarray | None = None,
    scores: Mapping[str, float] | None = None,
    height: int = 460,
    font_size: int = 12,
) -> go.Figure:
    """One panel per embedding (n, 2) of the same points, same colours in each.

    `ids` (n,) are carried as customdata so a selection in any panel names the same points;
    `highlight` (n,) bool draws those points large and outlined in every panel and fades the rest.
    """
    names = list(embeddings)
    titles = [
        f"{name}" + (f" · k-NN {scores[name]:.3f}" if scores and name in scores else "")
        for name in names
    ]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=titles, horizontal_spacing=0.04)
    ids = np.asarray(ids)
    faded = highlight is not None and bool(np.any(highlight))
    if label_kind == "class" and labels is not None:
        colors = class_colors(labels)
        groups = [
            (
                f"{c}: {plotly_text(class_names[c])}"
                if class_names and 0 <= c < len(class_names) and class_names[c] != str(c)
                else str(c),
                colors[c],
                np.flatnonzero(labels.astype(int) == c),
            )
            for c in colors
        ]
    else:
        groups = [("points", None, np.arange(len(ids)))]
    for col, name in enumerate(names, start=1):
        points = np.asarray(embeddings[name], dtype=np.float32)
        for group_name, color, idx in groups:
            marker: dict = dict(size=5, opacity=0.25 if faded else 0.85)
            if color is not None:
                marker["color"] = color
            elif labels is not None:
                marker.update(
                    color=np.asarray(labels, dtype=np.float32)[idx],
                    colorscale="Viridis",
                    showscale=col == len(names),
                    colorbar=dict(thickness=10, title=dict(text="label")),
                )
            fig.add_trace(
                go.Scattergl(
                    x=points[idx, 0],
                    y=points[idx, 1],
                    mode="markers",
                    marker=marker,
                    customdata=ids[idx],
                    name=group_name,
                    legendgroup=group_name,
                    showlegend=col == 1 and color is not None,
                    hovertemplate="#%{customdata}<extra>" + group_name + "</extra>",
                ),
                row=1,
                col=col,
            )
        if faded:
            sel = np.flatnonzero(highlight)
            fig.add_trace(
                go.Scattergl(
                    x=points[sel, 0],
                    y=points[sel, 1],
                    mode="markers",
                    marker=dict(
                        size=11,
                        color=[
                            colors[int(labels[i])]
                            if label_kind == "class" and labels is not None
                            else "red"
                            for i in sel
                        ],
                        line=dict(color="black", width=1.5),
                    ),
                    customdata=ids[sel],
                    name="highlighted",
                    showlegend=col == 1,
                    hovertemplate="#%{customdata}<extra>highlighted</extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        font=dict(size=font_size),
        plot_bgcolor="white",
        legend=dict(orientation="h", y=-0.08, itemsizing="constant"),
        clickmode="event+select",
        dragmode="lasso",
        hovermode="closest",
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    return fig


__all__ = ["class_colors", "embedding_figure"]

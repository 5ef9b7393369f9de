"""The beta pair: the test-set ELBO terms of two (or more) models side by side."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from .latent_map import compact_legend


def elbo_terms_figure(
    terms: Mapping[str, Mapping[str, float]], height: int = 340, font_size: int = 12
) -> go.Figure:
    """Grouped bars of the test-set terms {model label: {recon, kl, elbo}} in nats."""
    keys = [("recon", "reconstruction −log p(x|z)"), ("kl", "KL(q(z|x) ‖ p(z))"), ("elbo", "−ELBO")]
    fig = go.Figure()
    for i, (label, values) in enumerate(terms.items()):
        ys = [values["recon"], values["kl"], -values["elbo"]]
        fig.add_trace(
            go.Bar(
                x=[name for _, name in keys],
                y=ys,
                name=label,
                marker_color=("#4c72b0", "#dd8452", "#55a868", "#c44e52")[i % 4],
                text=[f"{v:.2f}" for v in ys],
                textposition="outside",
                hovertemplate="%{x}: %{y:.3f} nats<extra>" + label + "</extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        font=dict(size=font_size),
        yaxis_title="nats per example (test set)",
        legend=compact_legend(),  # under the plot: never under the toolbar
    )
    return fig


__all__ = ["elbo_terms_figure"]

"""The latent map's colourings, each in one place: its name (the Colour-by choice, what a scene
stores), its code in a link, the values it colours the points by, their kind, the legend's
title, and whether a view offers it.

ui/view_link.py takes the names and codes from here, ui/map_options.py the choices a view
offers, ui/latent_panel.py the values. Adding a colouring is one entry in COLOURINGS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

Kind = Literal["class", "continuous"]


class LatentView(Protocol):
    """What a colouring reads of ui/view_cache.py's LatentView (named here, not imported: the
    link codec imports this module, and the view cache must not be part of its imports)."""

    y: np.ndarray | None
    label_kind: Literal["class", "continuous"] | None
    mu: np.ndarray
    sigma: np.ndarray
    kl: np.ndarray
    recon_nll: np.ndarray


@dataclass(frozen=True)
class Colouring:
    name: str  # shown in the Colour-by choice; stored in scenes
    code: str  # in a link: plain ASCII, so a link stays readable where "σ" would be encoded
    legend: str  # the colour bar's or legend's title
    # (N,) per point (NaN: no value), or None where this view does not offer it; the second
    # argument is the Inference lab's gap sample for the view (see colour_values)
    values: Callable[[LatentView, object | None], np.ndarray | None]
    kind: Callable[[LatentView], Kind] = lambda view: "continuous"
    # What the values depend on besides the view, for the caches ("" : nothing).
    version: Callable[[object | None], str] = lambda gaps: ""


def _gaps(view: LatentView, sample) -> np.ndarray | None:
    """Only the points the Inference lab scored have a value; the others are drawn grey."""
    if sample is None:
        return None
    values = np.full(len(view.mu), np.nan)
    values[sample.indices] = sample.gaps.approximation_gap
    return values


COLOURINGS = (
    Colouring(
        "label", "label", "label", lambda view, gaps: view.y,
        kind=lambda view: "class" if view.label_kind == "class" else "continuous",
    ),
    Colouring("σ (posterior std)", "sigma", "mean σ", lambda view, gaps: view.sigma.mean(1)),
    Colouring("KL to prior", "kl", "KL (nats)", lambda view, gaps: view.kl),
    Colouring(
        "reconstruction error", "recon", "−log p(x|z=μ) (nats)", lambda view, gaps: view.recon_nll,
    ),
    Colouring(
        "approximation gap", "gap", "log p(x) − ELBO(q*) (nats)", _gaps,
        version=lambda gaps: str(len(gaps.indices)) if gaps is not None else "",
    ),
)  # fmt: skip
BY_NAME = {c.name: c for c in COLOURINGS}
NAMES = tuple(BY_NAME)
CODES = {c.code: c.name for c in COLOURINGS}  # link code -> name


def offered(view: LatentView, gaps=None) -> list[str]:
    """The colourings this view can show: labels only if it has them, the approximation gap
    once the Inference lab has computed it for a sample of its points (`gaps`)."""
    return [c.name for c in COLOURINGS if c.values(view, gaps) is not None]


def colour_values(
    view: LatentView, name: str, gaps=None
) -> tuple[np.ndarray | None, Kind | None, str]:
    """(values (N,) or None, their kind, legend title) for a colouring; no colour ("points")
    for an unknown name or one this view does not offer. `gaps`: the Inference lab's gap
    sample for this view (ui.inference_lab.latest_gap_sample), passed in by the caller so that
    this registry, which the link codec imports, imports nothing of the app."""
    colouring = BY_NAME.get(name)
    values = colouring.values(view, gaps) if colouring is not None else None
    if values is None:
        return None, None, "points"
    return values, colouring.kind(view), colouring.legend


def colour_key(name: str, gaps=None) -> str:
    """What a colouring's picture depends on, for the caches: its name (and version)."""
    colouring = BY_NAME.get(name)
    version = colouring.version(gaps) if colouring is not None else ""
    return f"{name}:{version}" if version else name

"""The latent map's colourings, each in one place: its name (the Colour-by choice, what a scene
stores), its code in a link, the values it colours the points by, their kind, the legend's
title, and whether a view offers it.

ui/view_link.py takes the names and codes from here, ui/map_options.py the choices a view
offers, ui/latent_panel.py the values. Adding a colouring is one entry in COLOURINGS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from .view_cache import LatentView

Kind = Literal["class", "continuous"]


@dataclass(frozen=True)
class Colouring:
    name: str  # shown in the Colour-by choice; stored in scenes
    code: str  # in a link: plain ASCII, so a link stays readable where "σ" would be encoded
    legend: str  # the colour bar's or legend's title
    values: Callable[[LatentView], np.ndarray | None]  # (N,) per point (NaN: no value); None: n/a
    kind: Callable[[LatentView], Kind] = lambda view: "continuous"
    # What the values depend on besides the view, for the caches ("" : nothing).
    version: Callable[[LatentView], str] = lambda view: ""

    def offered(self, view: LatentView) -> bool:
        return self.values(view) is not None


def _gap_sample(view: LatentView):
    """The Inference lab's largest sample of approximation gaps for this view (None: none)."""
    from .inference_lab import latest_gap_sample  # the lab imports the view cache, not this

    return latest_gap_sample(view)


def _gaps(view: LatentView) -> np.ndarray | None:
    """Only the points the Inference lab scored have a value; the others are drawn grey."""
    sample = _gap_sample(view)
    if sample is None:
        return None
    values = np.full(len(view.mu), np.nan)
    values[sample.indices] = sample.gaps.approximation_gap
    return values


COLOURINGS = (
    Colouring(
        "label", "label", "label", lambda view: view.y,
        kind=lambda view: "class" if view.label_kind == "class" else "continuous",
    ),
    Colouring("σ (posterior std)", "sigma", "mean σ", lambda view: view.sigma.mean(1)),
    Colouring("KL to prior", "kl", "KL (nats)", lambda view: view.kl),
    Colouring("reconstruction error", "recon", "−log p(x|z=μ) (nats)", lambda view: view.recon_nll),
    Colouring(
        "approximation gap", "gap", "log p(x) − ELBO(q*) (nats)", _gaps,
        version=lambda view: str(len(sample.indices)) if (sample := _gap_sample(view)) else "",
    ),
)  # fmt: skip
BY_NAME = {c.name: c for c in COLOURINGS}
NAMES = tuple(BY_NAME)
CODES = {c.code: c.name for c in COLOURINGS}  # link code -> name


def offered(view: LatentView) -> list[str]:
    """The colourings this view can show: labels only if it has them, the approximation gap
    once the Inference lab has computed it for a sample of its points."""
    return [c.name for c in COLOURINGS if c.offered(view)]


def colour_values(view: LatentView, name: str) -> tuple[np.ndarray | None, Kind | None, str]:
    """(values (N,) or None, their kind, legend title) for a colouring; no colour ("points")
    for an unknown name or one this view does not offer."""
    colouring = BY_NAME.get(name)
    values = colouring.values(view) if colouring is not None else None
    if values is None:
        return None, None, "points"
    return values, colouring.kind(view), colouring.legend


def colour_key(view: LatentView, name: str) -> str:
    """What a colouring's picture depends on, for the caches: its name (and version)."""
    colouring = BY_NAME.get(name)
    version = colouring.version(view) if colouring is not None else ""
    return f"{name}:{version}" if version else name

"""A model whose numbers are not finite gets a clear message, not an error page.

Finite but huge weights (a checkpoint with values near 3e38) overflow float32 inside the
network: the file is valid, the model is not usable.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from .text import plain


def stop_unless_finite(name: str, mu: np.ndarray, sigma: np.ndarray) -> None:
    """A message and st.stop() when a model's encoder gives NaN, ±inf or σ <= 0."""
    bad = ~(np.isfinite(mu).all(axis=1) & np.isfinite(sigma).all(axis=1) & (sigma > 0).all(axis=1))
    if bad.any():
        st.error(
            f"“{plain(name)}” cannot be drawn: its encoder gives NaN or infinite values for "
            f"{int(bad.sum()):,} of {len(bad):,} test points (its weights are too large to "
            "compute with)."
        )
        st.stop()


def warn_unless_finite_decoder(name: str, recon_nll: np.ndarray) -> None:
    """A warning (the page still draws) when the decoder gives NaN or ±inf for some points."""
    bad = ~np.isfinite(recon_nll)
    if bad.any():
        st.warning(
            f"“{plain(name)}”'s decoder gives NaN or infinite values for {int(bad.sum()):,} of "
            f"{len(bad):,} test points: their decoded pictures are blank (its weights are too "
            "large to compute with)."
        )

"""The app's own stylesheet, on every page: what Streamlit's defaults cut on a small screen.

Streamlit draws a button's label, a metric's value and a checkbox's label on one line and
cuts what does not fit with an ellipsis: on a student's laptop (1000x800, sidebar open) the
Models page's buttons read "Lo…" and "D…" (one of them Delete) and the Aggregate page's
metrics lost their units. Here they wrap instead, so every word stays readable.
"""

from __future__ import annotations

import streamlit as st

APP_CSS = """
<style>
[data-testid^="stBaseButton"] [data-testid="stMarkdownContainer"],
[data-testid^="stBaseButton"] [data-testid="stMarkdownContainer"] p,
[data-testid="stPageLink"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMetricValue"], [data-testid="stMetricValue"] > div,
[data-testid="stMetricLabel"] p, [data-testid="stCheckbox"] label p,
[data-testid="stRadio"] label p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
}
[data-testid^="stBaseButton"] { height: auto; min-height: 2.5rem; }
[data-testid="stMetricValue"] { font-size: clamp(1.1rem, 2.2vw, 2.25rem); line-height: 1.2; }
</style>
"""


def apply_page_style() -> None:
    """The stylesheet above, on the page being run (app.py, before the page)."""
    st.html(APP_CSS)


__all__ = ["APP_CSS", "apply_page_style"]


# Below this window width a row of columns marked by stack_columns_when_narrow goes one under
# the other: at 1000 px with the sidebar open, side by side left the Latent map too narrow and
# the Inference lab's posterior a ~125 px square beside its legend and colour bar (#18).
NARROW_WINDOW_PX = 1180


def stack_columns_when_narrow(row_key: str) -> None:
    """The columns of the container keyed `row_key`, one under the other at full width in a
    window narrower than NARROW_WINDOW_PX (the page being run; CSS, so no rerun on resize)."""
    row = f".st-key-{row_key}"
    st.html(
        f"<style>@media (max-width: {NARROW_WINDOW_PX}px) {{"
        f' {row} [data-testid="stHorizontalBlock"] {{ flex-wrap: wrap; }}'
        f' {row} [data-testid="stColumn"] {{ flex: 1 1 100% !important; width: 100% !important; }}'
        " }</style>"
    )

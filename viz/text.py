"""Text from a file (a class name) made safe inside a Plotly figure."""

from __future__ import annotations

import html


def plotly_text(value: object) -> str:
    """Plotly renders a subset of HTML in names, titles and hover text (<a href> makes a link)
    and shows entities as characters: escaped, the text reads the same and links nowhere."""
    return html.escape(str(value), quote=False)

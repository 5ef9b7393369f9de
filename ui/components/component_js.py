"""The JavaScript of this project's small components, as it goes to the browser.

Streamlit sends a components-v2 element's JS with every message that carries the element:
for the map's click listener that is every click, for the browser decoder every page run. So
the whole-line comments and blank lines (half of each file) are left out.
"""

from __future__ import annotations

from pathlib import Path


def component_js(file_name: str) -> str:
    """ui/<file_name> without its whole-line `//` comments and blank lines."""
    source = Path(__file__).with_name(file_name).read_text(encoding="utf-8")
    lines = source.splitlines()
    return "\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("//"))

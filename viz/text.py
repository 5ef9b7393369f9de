"""Text from a file, an upload or a link, made safe to show: Unicode a browser can carry, and
inert in a Plotly figure. ui/text.py builds the Markdown renderer on the same cleaning."""

from __future__ import annotations

import html
import re

# Characters that change how the text around them reads without being seen: C0/C1 controls
# (a line break is turned into a space first) and the bidirectional overrides and isolates,
# with which "\u202egpj.exe" shows as "exe.jpg".
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def scalar_text(value: object) -> str:
    """`value` as a string of Unicode scalar values: a lone surrogate ("x\\ud800y" is valid JSON)
    cannot be encoded as UTF-8, so protobuf, Arrow and the browser would fail on it; it becomes
    U+FFFD, the replacement character (a well-formed pair stays the character it encodes)."""
    text = str(value)
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def one_line(value: object) -> str:
    """scalar_text() on one line, with every invisible control shown as U+FFFD."""
    return _INVISIBLE.sub("\ufffd", _LINE_BREAKS.sub(" ", scalar_text(value)))


def plotly_text(value: object) -> str:
    """Plotly renders a subset of HTML in names, titles and hover text (<a href> makes a link)
    and shows entities as characters: escaped, the text reads the same and links nowhere."""
    return html.escape(one_line(value), quote=False)

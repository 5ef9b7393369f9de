"""Text from a file or a link, made safe to put inside Streamlit Markdown.

st.markdown, st.caption, st.error and friends (and widget labels) render Markdown: a model
name, a dataset file name or an error quoting a CSV cell could otherwise show an external
image (a request off the machine carrying the app's address) or a link to anywhere. Every
such string goes through plain() where it is interpolated; the reader sees the same
characters, Markdown sees none of its syntax.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and these are the
# ones Markdown, GFM (autolinks: "www." and "http:"), Streamlit's directives (":red[...]",
# ":material/...:") and its LaTeX ("$...$") give a meaning to.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&\"'])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
MAX_SHOWN_CHARS = 300  # a value longer than this is cut: it is a hint, not a document


def plain(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """`value` as text that Markdown shows literally, on one line, at most `limit` characters."""
    text = _LINE_BREAKS.sub(" ", str(value))
    if len(text) > limit:
        text = f"{text[:limit]}…"
    return _SPECIAL.sub(r"\\\1", text)


__all__ = ["plain"]

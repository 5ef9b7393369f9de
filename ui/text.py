"""The one renderer of untrusted text: anything from a file, an upload, a link or a dataset
that Streamlit shows as Markdown (st.markdown, st.caption, st.error and friends, widget labels,
`help` tooltips) goes through plain() where it is interpolated.

Markdown would otherwise turn it into something else than text: an image (a request off the
machine carrying the app's address), a link, HTML, a heading, a Streamlit directive
(":red[...]"), LaTeX, or, with GFM, an autolink: a URL, a `www.` name or an e-mail address
becomes a clickable link even when every character of it is backslash-escaped, because the
autolinker runs on the text after the escapes are resolved. So plain() escapes every
Markdown character and also puts an invisible WORD JOINER (U+2060) where an autolink would
start (after "http:", "mailto:", "@", inside "www."): the reader sees the same characters,
the link never exists. tests/test_untrusted_text.py checks the source for text calls that
bypass plain(); tests/e2e/test_inert_text_e2e.py renders hostile strings in Chromium.
"""

from __future__ import annotations

import re

from viz.text import one_line

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and these are the
# ones Markdown, GFM, Streamlit's directives (":red[...]", ":material/...:") and its LaTeX
# ("$...$") give a meaning to.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&\"'@%])")
# Where GFM's autolink literals start: a scheme's colon ("https:", "mailto:", "xmpp:"), an
# e-mail's "@", a "www." (the escaped "\." follows it). A joiner after them breaks the match.
_AUTOLINK_START = re.compile(r"(\\:|\\@|(?i:www)(?=\\\.))")
WORD_JOINER = "\u2060"
MAX_SHOWN_CHARS = 300  # a value longer than this is cut: it is a hint, not a document


def plain(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """`value` as Markdown that shows it literally and inertly, on one line, at most `limit`
    characters: no link, autolink, image, HTML, heading, directive or formula."""
    text = one_line(value)
    if len(text) > limit:
        text = f"{text[:limit]}…"
    return _AUTOLINK_START.sub(rf"\1{WORD_JOINER}", _SPECIAL.sub(r"\\\1", text))


_NOT_IN_FILE_NAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')


def download_name(stem: object, suffix: str) -> str:
    """A download's file name from untrusted text (a model's name): valid Unicode (a lone
    surrogate cannot be sent in the download's header), one line, no path separators or
    characters a file system refuses, at most 120 characters before `suffix`."""
    text = _NOT_IN_FILE_NAMES.sub("_", one_line(stem)).strip(" .") or "download"
    return f"{text[:120]}{suffix}"


__all__ = ["WORD_JOINER", "download_name", "plain"]

"""Every run goes through app.py: a page opened by a cold deep link is sent there and back.

On a freshly started server Streamlit treats pages/ as a plain folder of pages until app.py
has called st.navigation once, so a deep link such as /train opens that file alone: no
navigation, no badge, no session state (seen in Chromium on a cold server; AppTest does the
same when it switches page before its first run). init_state() always creates the active
model's key, so its absence means app.py did not run.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from .session_keys import ACTIVE_KEY, WANTED_PAGE_KEY, init_state


def ensure_app_entry() -> None:
    """Send a page that runs without app.py through app.py, and on to the same page
    (follow_page_request, in app.py, opens it); else make sure every key exists."""
    if ACTIVE_KEY in st.session_state:
        init_state()  # a test may run one page with only the active model set
        return
    st.session_state[WANTED_PAGE_KEY] = _calling_page()
    try:
        st.switch_page("app.py", query_params=st.query_params.to_dict())  # keep a shared link
    except StreamlitAPIException:  # app.py is not a page here (a page run on its own in a test)
        st.info("Open this page from the app's start page (`streamlit run app.py`).")
        st.stop()


def _calling_page() -> str | None:
    """'pages/<name>.py' of the page script on the call stack, if any."""
    for frame in inspect.stack(context=0):
        path = Path(frame.filename)
        if path.parent.name == "pages" and path.suffix == ".py":
            return f"pages/{path.name}"
    return None


def follow_page_request(current_url_path: str) -> None:
    """In app.py after st.navigation: open the page that ensure_app_entry() was sent from."""
    wanted = st.session_state.get(WANTED_PAGE_KEY)
    st.session_state[WANTED_PAGE_KEY] = None
    if wanted and Path(wanted).stem != current_url_path:
        st.switch_page(wanted, query_params=st.query_params.to_dict())  # keep a shared link

"""Tell a student whose page reconnected to a server that did not know its session.

Streamlit keeps a session (its state, uploads, pictures) in the memory of the server process
that runs it. When that process stops (a restart, or one worker of a lecture hall killed),
the browser reconnects by itself within a second (through HAProxy: to a live worker) and
asks for its old session by id; a server that does not know the id starts a new session, and
nothing on the page says so. The old id arrives as the third entry of the websocket's
Sec-WebSocket-Protocol header ("streamlit, <xsrf token>, <previous session id>"), which a
first visit or a reload does not send: so a new session that names a previous one is exactly
"this page's session was lost".
"""

from __future__ import annotations

import streamlit as st

from .session_keys import SESSION_SEEN_KEY

NOTICE = (
    "The server this page was using stopped, so the page reconnected and started a new "
    "session: the model and view in the address bar are back; a model trained here and not "
    "saved, or a training run under way, was lost."
)


def previous_session_id(protocol_header: str | None) -> str | None:
    """The session id a reconnecting browser asks for, from Sec-WebSocket-Protocol."""
    entries = [entry.strip() for entry in (protocol_header or "").split(",")]
    return entries[2] if len(entries) >= 3 and entries[2] else None


def notice_lost_session() -> bool:
    """On a session's first run: a toast if its browser's previous session is gone. Returns
    whether it showed one."""
    if st.session_state.get(SESSION_SEEN_KEY):
        return False
    st.session_state[SESSION_SEEN_KEY] = True
    if previous_session_id(st.context.headers.get("Sec-Websocket-Protocol")) is None:
        return False
    st.toast(NOTICE, icon=":material/sync_problem:", duration="long")
    return True

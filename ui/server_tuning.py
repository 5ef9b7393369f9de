"""Process-wide settings that keep one server answering a classroom: applied once per process.

Both come from bench/load_test.py (30 sessions clicking and opening Interpolate while one more
trains, 2 cores); the numbers are in bench/RESULTS.md.

1. TCP_NODELAY on the server's sockets. Streamlit (1.67) binds its listening socket as
   ``socket.socket(family)``, i.e. with protocol 0, and asyncio only turns Nagle's algorithm
   off on sockets whose protocol is IPPROTO_TCP (``asyncio.base_events._set_nodelay``). So
   every websocket the server accepted kept Nagle on: a rerun answers with several small frames
   (status, deltas, "finished"); the first left at once, the rest waited for its ACK, which the
   browser's kernel delays (40 ms on Linux, up to 200 ms on Windows). Measured: 3 of 60 clicks
   took 44-47 ms instead of 5-10 ms, their frames leaving the server within 4 ms.
   Setting it on the listening socket makes every socket accepted later inherit it (Linux,
   BSD, macOS); the connections already open (the first session's) are set too. On Windows
   (no /dev/fd) nothing is changed.

2. A 1 ms GIL switch interval instead of Python's 5 ms. The event loop and one script thread
   per running session share the GIL, and a click's answer needs it several times (read the
   message, run the fragment, flush the answer). Behind another session's 20 ms page run, each
   of those waits up to the holder's switch interval.

3. ``ast.parse`` one thread at a time. CPython 3.11.7 (this project's interpreter; fixed in
   later releases, gh-106905) keeps the AST converter's recursion-depth check in state that
   two threads converting at once can share, and then fails with "SystemError: AST constructor
   recursion depth mismatch". Streamlit parses each page script with ``ast.parse`` (its
   "magic") on the script thread of the session that opens it first, so sessions (or a session
   and a library parsing in another thread) can meet there: seen in a full end-to-end run, a
   page opened from a link showed that error instead of the map. Parsing is rare (Streamlit
   caches the compiled page), so a lock costs nothing.
"""

from __future__ import annotations

import ast
import functools
import os
import socket
import stat
import sys
import threading
from pathlib import Path

_FD_FOLDER = Path("/dev/fd")  # this process's descriptors (Linux, macOS); Windows has none
SWITCH_INTERVAL_SECONDS = 0.001
_tuned = False
_AST_LOCK = threading.Lock()


def tune_server_process() -> None:
    """Apply the three settings, once per process (later calls do nothing)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    disable_nagle_on_open_sockets()
    serialise_ast_parse()


def serialise_ast_parse() -> None:
    """Make ``ast.parse`` take a process-wide lock (3. above); idempotent."""
    if getattr(ast.parse, "serialised", False):
        return
    unlocked = ast.parse

    @functools.wraps(unlocked)
    def parse(*args, **kwargs):
        with _AST_LOCK:
            return unlocked(*args, **kwargs)

    parse.serialised = True
    ast.parse = parse


def disable_nagle_on_open_sockets() -> int:
    """Set TCP_NODELAY on every open TCP socket of this process; returns how many."""
    if not _FD_FOLDER.is_dir():
        return 0
    count = 0
    for name in os.listdir(_FD_FOLDER):
        try:
            if not stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                continue
            # A duplicate descriptor: options belong to the socket, so setting them through the
            # copy sets them for the server's own descriptor, and closing the copy closes nothing.
            with socket.socket(fileno=os.dup(int(name))) as sock:
                if sock.family in (socket.AF_INET, socket.AF_INET6) and (
                    sock.type == socket.SOCK_STREAM
                ):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    count += 1
        except OSError:  # closed meanwhile
            continue
    return count

"""ui/server_tuning.py: Nagle off on the server's sockets (listening, accepted, later accepted)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from ui import server_tuning

pytestmark = pytest.mark.skipif(
    not Path("/dev/fd").is_dir(), reason="finds the open sockets through /dev/fd"
)


def nodelay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def test_sockets_bound_like_streamlits_get_nodelay_and_pass_it_on() -> None:
    # Streamlit's own way of binding: protocol 0, which asyncio's _set_nodelay skips.
    listener = socket.socket(family=socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    unix_pair = socket.socketpair()  # not TCP: left alone, and no error
    try:
        assert listener.proto == 0 and not nodelay(accepted)
        assert server_tuning.disable_nagle_on_open_sockets() >= 3
        assert nodelay(listener) and nodelay(accepted)
        later_client = socket.create_connection(listener.getsockname())
        later, _ = listener.accept()  # accepted after: inherits the listener's setting
        assert nodelay(later)
        later.close()
        later_client.close()
        # The descriptors are still the test's own: the duplicates were closed, not these.
        accepted.sendall(b"x")
        assert client.recv(1) == b"x"
    finally:
        for sock in (listener, client, accepted, *unix_pair):
            sock.close()


def test_tuning_runs_once_and_sets_the_switch_interval(monkeypatch) -> None:
    before = sys.getswitchinterval()
    monkeypatch.setattr(server_tuning, "_tuned", False)
    calls = []
    monkeypatch.setattr(server_tuning, "disable_nagle_on_open_sockets", lambda: calls.append(1))
    try:
        server_tuning.tune_server_process()
        server_tuning.tune_server_process()
        assert sys.getswitchinterval() == pytest.approx(server_tuning.SWITCH_INTERVAL_SECONDS)
        assert calls == [1]
    finally:
        sys.setswitchinterval(before)


def test_ast_parse_runs_one_thread_at_a_time(monkeypatch) -> None:
    """Streamlit parses page scripts with ast.parse on session threads; CPython 3.11.7's AST
    converter can fail when two threads convert at once (gh-106905): parses are serialised."""
    import ast
    import threading

    monkeypatch.setattr(ast, "parse", ast.parse)  # restored after the test
    server_tuning.serialise_ast_parse()
    server_tuning.serialise_ast_parse()  # idempotent: one lock, not two nested wrappers
    assert ast.parse.serialised and not getattr(ast.parse.__wrapped__, "serialised", False)
    done = threading.Event()
    with server_tuning._AST_LOCK:  # another thread is parsing
        worker = threading.Thread(target=lambda: (ast.parse("x = 1"), done.set()))
        worker.start()
        assert not done.wait(0.2), "a parse ran while another held the lock"
    assert done.wait(60), "the parse did not run once the lock was free"
    worker.join(60)
    assert isinstance(ast.parse("y = [1, 2]"), ast.Module)

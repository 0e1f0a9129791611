"""Every log line hostd writes escapes control characters: nobody forges a line (LF) or
drives the operator's terminal (ESC, C1 CSI) with a path, a header or a message.

The formatter itself (hostd.logs), then real processes: the daemon's access log and
uvicorn's own lines, and a router worker's log of a Host header.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

from hostd.logs import FORMAT, LineFormatter, escape
from hostd.router.worker import DATABASE_ENV, MSG_READY
from tests.support import HostdServer, client_for

HOSTILE = "a\nFORGED 2026 INFO hostd.access: GET / 200\r\x1b[31mred\x9b2J\x00\x7f\u2028\t"
ESCAPED = "a\\nFORGED 2026 INFO hostd.access: GET / 200\\r\\x1b[31mred\\x9b2J\\x00\\x7f\\u2028\\t"


def record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = sys.exc_info() if exc else None
    return logging.LogRecord("hostd.test", logging.WARNING, __file__, 1, msg, args, info)


def test_escape_writes_every_control_character_out() -> None:
    assert escape(HOSTILE) == ESCAPED
    assert escape("plain text, é and ü, a \\ backslash") == "plain text, é and ü, a \\ backslash"


def test_a_record_with_controls_in_its_message_or_args_is_one_escaped_line() -> None:
    formatter = LineFormatter(FORMAT)
    line = formatter.format(record("clone of %s failed: %s", "file:///x\n", HOSTILE))
    assert "\n" not in line and "\x1b" not in line and "\x9b" not in line
    assert line.endswith(f"hostd.test: clone of file:///x\\n failed: {ESCAPED}")
    assert formatter.format(record(HOSTILE)).endswith(f": {ESCAPED}")  # a message, no args


def test_a_traceback_keeps_its_lines_and_escapes_what_the_exception_says() -> None:
    formatter = LineFormatter(FORMAT)
    try:
        try:
            raise RuntimeError("inner\n\x1b[2Jwiped")
        except RuntimeError as inner:
            error = ValueError(f"bad path {HOSTILE}")
            error.add_note("note\nFORGED line")
            raise error from inner
    except ValueError:
        text = formatter.format(record("deploy %s crashed", "d1", exc=True))
    lines = text.splitlines()
    assert lines[0].endswith("hostd.test: deploy d1 crashed")
    assert lines[1] == "Traceback (most recent call last):"
    assert any(line.startswith('  File "') for line in lines), "the stack keeps its lines"
    assert f"ValueError: bad path {ESCAPED}" in lines
    assert "note\\nFORGED line" in lines
    assert "RuntimeError: inner\\n\\x1b[2Jwiped" in lines  # the cause's message too
    assert not any(line.startswith("FORGED") for line in lines)
    assert "\x1b" not in text and "\r" not in text and "\x9b" not in text


def test_stack_info_keeps_its_lines_without_other_controls() -> None:
    formatter = LineFormatter(FORMAT)
    rec = record("here")
    rec.stack_info = "Stack (most recent call last):\n  File \"x\x1b\", line 1"
    assert formatter.format(rec).splitlines()[1:] == ["Stack (most recent call last):",
                                                      '  File "x\\x1b", line 1']


def test_the_access_log_of_a_real_daemon_writes_one_escaped_line(hostd: HostdServer) -> None:
    marker = uuid.uuid4().hex
    # A whole forged access line after the %0A, then CR, ESC [31m, C1 CSI, NUL.
    path = (f"/x%0A2026-01-01%2000:00:00,000%20INFO%20hostd.access:%20GET%20/forged-{marker}"
            f"%20200%201.0ms%0D%1B%5B31m%C2%9B2J%00-{marker}")
    with client_for(hostd) as client:
        assert client.get(path).status_code == 404
    hostd.wait_for_log(rf"hostd\.access: GET /x%0A\S*{marker} 404 ")
    lines = [line for line in hostd.logs().splitlines() if marker in line]
    assert len(lines) == 1, lines
    assert f"hostd.access: GET {path} 404 " in lines[0], "the path as sent, percent-encoded"
    assert "\x1b" not in hostd.logs() and "\x9b" not in hostd.logs()


def test_uvicorns_own_lines_go_through_the_same_handler(hostd: HostdServer) -> None:
    assert re.search(r"^\S+ \S+ INFO uvicorn\.error: Application startup complete\.$",
                     hostd.logs(), re.MULTILINE)


def test_a_router_worker_escapes_a_host_header_in_its_log(tmp_path: Path) -> None:
    """A worker on a database without tables: looking a route up fails, and the worker
    logs the Host it was proxying to (C1 CSI in it: latin-1, as llhttp lets it through)."""
    listen = socket.create_server(("127.0.0.1", 0))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = {**os.environ, DATABASE_ENV: f"sqlite:///{tmp_path / 'empty.db'}"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "hostd.router.worker", str(listen.fileno()), str(theirs.fileno())],
        pass_fds=(listen.fileno(), theirs.fileno()), env=env, stderr=subprocess.PIPE)
    theirs.close()
    try:
        ours.settimeout(30)
        assert ours.recv(64) == MSG_READY
        with socket.create_connection(listen.getsockname(), timeout=30) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: shop\x9b2J.alice.localhost\r\n\r\n")
            assert client.recv(65536).startswith(b"HTTP/1.1 502 ")
    finally:
        ours.close()  # the daemon is gone: the worker exits
        listen.close()
        stderr = worker.communicate(timeout=30)[1].decode()
    assert "router: unexpected error proxying to shop\\x9b2J.alice.localhost" in stderr
    assert "\x9b" not in stderr

"""HTTP/1.1 on the wire through the router: framing, pipelining, limits and failures.

Raw sockets on both sides (a scripted app, a raw client), so every case is produced on
purpose: what the router must write back is checked byte for byte where it matters.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from hostd.router.counts import RequestCounter
from hostd.router.proxy import Router
from hostd.router.table import Route
from tests.router.proxykit import RouterThread, ScriptedApp, StaticTable

BODY = b"hello world\n"


def ok(head: bytes, sock: socket.socket) -> bool:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                 b"\r\n%b" % (len(BODY), b"" if head.startswith(b"HEAD") else BODY))
    return True


def chunked(head: bytes, sock: socket.socket) -> bool:
    sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"6\r\nhello \r\n6\r\nworld\n\r\n0\r\n\r\n")
    return True


def http10_until_close(head: bytes, sock: socket.socket) -> bool:
    sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + BODY)
    return False  # the body ends where the connection does


def no_content(head: bytes, sock: socket.socket) -> bool:
    sock.sendall(b"HTTP/1.1 204 No Content\r\nX-App: yes\r\n\r\n")
    return True


def truncated(head: bytes, sock: socket.socket) -> bool:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
    return False


def garbage(head: bytes, sock: socket.socket) -> bool:
    sock.sendall(b"this is not http\r\n\r\n")
    return False


def silent(head: bytes, sock: socket.socket) -> bool:
    time.sleep(3)
    return False


def endless(head: bytes, sock: socket.socket) -> bool:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    for _ in range(200):  # bounded: 20 s at most
        sock.sendall(b"7\r\ndata: x\r\n")
        time.sleep(0.1)
    return False


def close_after_answer(head: bytes, sock: socket.socket) -> bool:
    ok(head, sock)
    return False  # keep-alive allowed by the head, but the app closes a moment later


def echo_head(head: bytes, sock: socket.socket) -> bool:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(head), head))
    return True


BIG = 64 * 1024 * 1024
SENT = {"big": 0}


def big(head: bytes, sock: socket.socket) -> bool:
    """64 MiB as fast as the router takes it; SENT counts what it took."""
    SENT["big"] = 0
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
    piece = bytes(256 * 1024)
    for _ in range(BIG // len(piece)):
        sock.sendall(piece)
        SENT["big"] += len(piece)
    return False


def slow_reader(head: bytes, sock: socket.socket) -> bool:
    """Reads nothing of the body for 1.5 s, then all of it (until the client pauses)."""
    time.sleep(1.5)
    sock.settimeout(0.3)
    with contextlib.suppress(TimeoutError):
        while sock.recv(1024 * 1024):
            pass
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    return False


SCRIPTS = {b"/upload": slow_reader, b"/big": big, b"/ok": ok,
           b"/chunked": chunked, b"/http10": http10_until_close,
           b"/204": no_content, b"/truncated": truncated, b"/garbage": garbage,
           b"/silent": silent, b"/endless": endless, b"/close": close_after_answer,
           b"/echo": echo_head}


@pytest.fixture(scope="module")
def app() -> Iterator[ScriptedApp]:
    with ScriptedApp(SCRIPTS) as scripted:
        yield scripted


@pytest.fixture(scope="module")
def router(app: ScriptedApp) -> Iterator[tuple[RouterThread, RequestCounter]]:
    routes = {("shop", "alice"): Route("p-shop", "shop", "alice", "running", "c1", app.port)}
    counter = RequestCounter()
    factory = lambda: Router(StaticTable(routes), counter, response_timeout_s=1.0,  # noqa: E731
                             head_timeout_s=1.0, keep_alive_s=1.5)
    with RouterThread(factory) as server:
        yield server, counter


def connect(router) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", router[0].port), timeout=10)
    return sock


def get(path: str, method: str = "GET", version: str = "1.1", extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/{version}\r\nHost: shop.alice.localhost\r\n{extra}"
            "\r\n").encode()


class Reader:
    """Reads HTTP/1.1 responses off a raw socket (enough of it for these tests)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def head(self) -> tuple[int, dict[bytes, bytes]]:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"closed before a head: {self.buffer!r}"
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
        return int(lines[0].split()[1]), headers

    def response(self, head_request: bool = False) -> tuple[int, dict[bytes, bytes], bytes]:
        status, headers = self.head()
        if head_request or status in (204, 304):
            return status, headers, b""
        if b"content-length" in headers:
            size = int(headers[b"content-length"])
            while len(self.buffer) < size:
                assert self._fill(), "closed inside a body"
            body, self.buffer = self.buffer[:size], self.buffer[size:]
            return status, headers, body
        if headers.get(b"transfer-encoding") == b"chunked":
            return status, headers, self._chunks()
        while self._fill():
            pass
        body, self.buffer = self.buffer, b""
        return status, headers, body

    def _chunks(self) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                assert self._fill(), "closed inside a chunked body"
            size_line, _, self.buffer = self.buffer.partition(b"\r\n")
            size = int(size_line, 16)
            while len(self.buffer) < size + 2:
                assert self._fill(), "closed inside a chunk"
            body += self.buffer[:size]
            self.buffer = self.buffer[size + 2:]
            if size == 0:
                return body

    def closed(self) -> bool:
        return not self.buffer and not self._fill()


def test_pipelined_requests_are_answered_in_order(router):
    with connect(router) as sock:
        sock.sendall(get("/ok") + get("/chunked") + get("/echo?n=3"))
        reader = Reader(sock)
        assert reader.response()[2] == BODY
        assert reader.response()[2] == b"hello world\n"
        status, _, body = reader.response()
        assert status == 200 and body.startswith(b"GET /echo?n=3 HTTP/1.1")


def test_chunked_answers_are_reframed_and_the_connection_kept(router):
    with connect(router) as sock:
        reader = Reader(sock)
        for _ in range(3):
            sock.sendall(get("/chunked"))
            status, headers, body = reader.response()
            assert status == 200 and headers[b"transfer-encoding"] == b"chunked"
            assert body == b"hello world\n"


def test_a_body_delimited_by_close_reaches_a_11_client_as_chunks(router):
    with connect(router) as sock:
        reader = Reader(sock)
        for _ in range(2):  # the client's connection outlives the app's
            sock.sendall(get("/http10"))
            status, headers, body = reader.response()
            assert status == 200 and body == BODY
            assert headers[b"transfer-encoding"] == b"chunked"


def test_an_http10_client_gets_the_body_then_the_close(router):
    with connect(router) as sock:
        sock.sendall(get("/http10", version="1.0"))
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert status == 200 and body == BODY
        assert headers.get(b"connection") == b"close"
        assert reader.closed()


def test_an_http10_client_asking_for_keep_alive_gets_it(router):
    with connect(router) as sock:
        reader = Reader(sock)
        for _ in range(2):
            sock.sendall(get("/ok", version="1.0", extra="Connection: keep-alive\r\n"))
            status, headers, body = reader.response()
            assert status == 200 and body == BODY
            assert headers[b"connection"] == b"keep-alive"


def test_head_and_204_have_no_body_and_keep_the_connection(router):
    with connect(router) as sock:
        reader = Reader(sock)
        sock.sendall(get("/ok", method="HEAD"))
        status, headers, _ = reader.response(head_request=True)
        assert status == 200 and headers[b"content-length"] == str(len(BODY)).encode()
        sock.sendall(get("/204"))
        status, headers, _ = reader.response()
        assert status == 204 and headers[b"x-app"] == b"yes"
        sock.sendall(get("/ok"))
        assert reader.response()[2] == BODY


def test_expect_100_continue_is_answered_by_the_router(router):
    with connect(router) as sock:
        sock.sendall(get("/echo", method="GET", extra="Expect: 100-continue\r\n"))
        reader = Reader(sock)
        status, _ = reader.head()
        assert status == 100
        status, _, body = reader.response()
        assert status == 200 and b"expect" not in body.lower(), "Expect is the router's"


def test_a_truncated_answer_ends_in_a_close_not_a_short_200(router):
    with connect(router) as sock:
        sock.sendall(get("/truncated"))
        reader = Reader(sock)
        status, headers = reader.head()
        assert status == 200 and headers[b"content-length"] == b"100"
        while reader._fill():
            pass
        assert len(reader.buffer) < 100, "the client sees the body cut short"


def test_an_app_speaking_garbage_is_a_502(router):
    with connect(router) as sock:
        sock.sendall(get("/garbage"))
        status, _, body = Reader(sock).response()
        assert status == 502 and b"hostd router" in body


def test_an_app_that_answers_too_late_is_a_504(router):
    with connect(router) as sock:
        started = time.monotonic()
        sock.sendall(get("/silent"))
        status, _, body = Reader(sock).response()
        assert status == 504 and b"did not answer this request in time" in body
        assert time.monotonic() - started < 2.5


def test_a_closed_keep_alive_connection_of_the_app_is_retried_fresh(router, app):
    with connect(router) as sock:
        reader = Reader(sock)
        sock.sendall(get("/close"))  # answered; the app then closes its pooled connection
        assert reader.response()[2] == BODY
        time.sleep(0.2)
        before = app.connections
        for _ in range(3):
            sock.sendall(get("/close"))
            status, _, body = reader.response()
            assert (status, body) == (200, BODY)
        assert app.connections - before == 3


def test_a_client_that_goes_away_closes_the_apps_stream(router, app):
    before = app.closed_by_peer
    with connect(router) as sock:
        sock.sendall(get("/endless"))
        status, _ = Reader(sock).head()
        assert status == 200
    deadline = time.monotonic() + 5
    while app.closed_by_peer == before:
        assert time.monotonic() < deadline, "the app kept streaming to nobody"
        time.sleep(0.05)


def test_a_client_that_does_not_read_pauses_the_app(router):
    """Flow control: the router holds socket buffers' worth, never the whole body."""
    with connect(router) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(get("/big"))
        time.sleep(1.0)  # not reading: the router must stop reading from the app
        held = SENT["big"]
        # Kernel socket buffers on the way hold a few MiB (9 here); never the whole body.
        assert 0 < held < BIG // 2, f"the app got {held} bytes out"
        received = 0
        deadline = time.monotonic() + 30
        while received < BIG and time.monotonic() < deadline:  # then everything arrives
            received += len(sock.recv(1024 * 1024))
        assert received > BIG  # the head plus all of the body


def test_an_app_that_does_not_read_pauses_the_upload(router):
    """Flow control the other way: an upload waits for the app instead of piling up."""
    sent = 0
    with connect(router) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: shop.alice.localhost\r\n"
                     b"Content-Length: %d\r\n\r\n" % BIG)
        sock.settimeout(0.5)
        piece = bytes(256 * 1024)
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            while sent < BIG and time.monotonic() - started < 1.0:
                sent += sock.send(piece)
        assert sent < BIG // 2, f"{sent} bytes taken while the app read nothing"
        sock.settimeout(30)
        while sent < BIG:  # the app reads now: the rest goes through
            sent += sock.send(piece[: BIG - sent])
        status, _, body = Reader(sock).response()
        assert (status, body) == (200, b"ok")


def test_unknown_hosts_keep_the_connection(router):
    with connect(router) as sock:
        reader = Reader(sock)
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: nope.alice.localhost\r\n\r\n")
            status, headers, _ = reader.response()
            assert status == 404 and b"connection" not in headers
        sock.sendall(get("/ok"))
        assert reader.response()[2] == BODY


def test_counts_only_what_the_app_answered(router, app):
    _, counter = router
    before = counter.read("p-shop", f"c1:{app.port}")
    with connect(router) as sock:
        reader = Reader(sock)
        sock.sendall(get("/ok") + get("/204") + b"GET / HTTP/1.1\r\nHost: x.y.localhost\r\n\r\n")
        for _ in range(3):
            reader.response()
    assert counter.read("p-shop", f"c1:{app.port}") == before + 2


def test_many_concurrent_clients_all_get_their_answers(router):
    errors: list[str] = []

    def client() -> None:
        try:
            with connect(router) as sock:
                reader = Reader(sock)
                for _ in range(20):
                    sock.sendall(get("/ok"))
                    if reader.response()[2] != BODY:
                        errors.append("wrong body")
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []

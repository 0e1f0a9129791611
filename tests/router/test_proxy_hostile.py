"""Hostile clients of the router: bad and smuggling requests, slow and idle clients,
huge heads, and mangled requests (random byte flips, insertions, cuts and half-closes of
valid ones) never break it: no exception escapes its callbacks, and a valid request is
served afterwards. The scripted app and router of test_proxy_http."""

from __future__ import annotations

import random
import socket
import time

from tests.router.test_proxy_http import BODY, Reader, app, connect, get, router

__all__ = ["app", "router"]  # the fixtures, shared with test_proxy_http


def test_bad_requests_get_400_and_a_close(router):
    with connect(router) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost shop.alice.localhost\r\n\r\n")
        reader = Reader(sock)
        status, headers, _ = reader.response()
        assert status == 400 and headers[b"connection"] == b"close"
        assert reader.closed()


def test_content_length_with_chunked_is_refused_not_smuggled(router, app):
    before = app.connections
    with connect(router) as sock:
        sock.sendall(b"POST /ok HTTP/1.1\r\nHost: shop.alice.localhost\r\nContent-Length: 4\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo HTTP/1.1\r\n\r\n")
        reader = Reader(sock)
        status, _, _ = reader.response()
        assert status == 400 and reader.closed()
    assert app.connections == before, "nothing of it reached the app"


def test_a_client_too_slow_to_send_its_head_is_closed(router):
    with connect(router) as sock:
        sock.sendall(b"GET /ok HTTP/1.1\r\nHost: shop.al")
        started = time.monotonic()
        assert Reader(sock).closed()
        assert 0.8 < time.monotonic() - started < 5


def test_an_idle_client_connection_is_closed_after_the_keep_alive(router):
    with connect(router) as sock:
        reader = Reader(sock)
        sock.sendall(get("/ok"))
        assert reader.response()[2] == BODY
        started = time.monotonic()
        assert reader.closed()
        assert 1.2 < time.monotonic() - started < 5


def test_a_head_over_64_kib_gets_431(router):
    with connect(router) as sock:
        big = "X-Big: " + "a" * 70_000 + "\r\n"
        sock.sendall(get("/ok", extra=big))
        status, _, body = Reader(sock).response()
        assert status == 431 and b"64 KiB" in body


def mutations(rng: random.Random, base: bytes) -> bytes:
    """`base` with a few random byte flips, insertions, deletions or a cut."""
    data = bytearray(base)
    for _ in range(rng.randint(1, 4)):
        where = rng.randrange(len(data))
        action = rng.choice(["flip", "insert", "delete", "cut", "crlf"])
        if action == "flip":
            data[where] = rng.randrange(256)
        elif action == "insert":
            data[where:where] = rng.choice([b"\r\n", b":", b" ", b"\x00", b"0" * 40, b"\n"])
        elif action == "delete":
            del data[where]
        elif action == "crlf":
            data[where:where] = b"\r\n\r\n"
        else:
            del data[where:]
        if not data:
            data = bytearray(b"G")
    return bytes(data)


BASES = [
    get("/ok"),
    get("/chunked") + get("/echo"),
    b"POST /echo HTTP/1.1\r\nHost: shop.alice.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: shop.alice.localhost\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /ws HTTP/1.1\r\nHost: shop.alice.localhost\r\nConnection: Upgrade\r\n"
    b"Upgrade: websocket\r\n\r\n",
]


def test_mangled_requests_never_break_the_router(router):
    """200 mutated requests, each on its own connection: whatever the router answers, no
    exception escapes its callbacks and a valid request is served afterwards."""
    rng = random.Random(20261128)  # fixed: a failure reproduces
    for _ in range(200):
        data = mutations(rng, rng.choice(BASES))
        half_close = rng.random() < 0.3
        with connect(router) as sock:
            sock.settimeout(0.05)
            try:
                sock.sendall(data)
                if half_close:
                    sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
            except (TimeoutError, ConnectionError):
                pass
    assert router[0].errors == []
    with connect(router) as sock:
        sock.sendall(get("/ok"))
        assert Reader(sock).response()[2] == BODY

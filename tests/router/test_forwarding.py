"""What the router tells an app about the request: one Host, and who sent it.

A request with two Host headers is a 400 from the router (it would route by one while the
app reads the other); X-Forwarded-For/-Proto/-Host are the router's own, and whatever the
client sent under those names, or as `Forwarded` / `X-Real-IP`, never reaches the app.
A scripted app on loopback records the head it receives, byte for byte.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from hostd.router.counts import RequestCounter
from hostd.router.proxy import Router
from hostd.router.table import Route
from tests.router.proxykit import RouterThread, ScriptedApp, StaticTable
from tests.router.test_proxy_http import Reader

HOST = "shop.alice.localhost"
HEADS: list[bytes] = []  # what the app received, in order


def record(head: bytes, sock: socket.socket) -> bool:
    HEADS.append(head)
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    return True


@pytest.fixture(scope="module")
def router() -> Iterator[RouterThread]:
    with ScriptedApp({b"/record": record}) as app:
        routes = {("shop", "alice"): Route("p-shop", "shop", "alice", "running", "c1", app.port)}
        with RouterThread(lambda: Router(StaticTable(routes), RequestCounter())) as server:
            yield server


def exchange(router: RouterThread, raw: bytes) -> Reader:
    sock = socket.create_connection(("127.0.0.1", router.port), timeout=10)
    sock.sendall(raw)
    return Reader(sock)


def app_headers(head: bytes) -> list[tuple[str, str]]:
    """The head's header lines as (lower-cased name, value), in order."""
    lines = head.split(b"\r\n")[1:]
    return [(n.decode().lower(), v.decode()) for n, v in (line.split(b": ", 1) for line in lines)]


@pytest.mark.parametrize("hosts", [
    f"Host: {HOST}\r\nHost: other.bob.localhost\r\n",
    f"Host: other.bob.localhost\r\nHost: {HOST}\r\n",
    f"Host: {HOST}\r\nhost: {HOST}\r\n",  # the same name twice is still two
    f"Host: \r\nHOST: {HOST}\r\n",
])
def test_a_request_with_two_host_headers_is_a_400_that_never_reaches_the_app(router, hosts):
    HEADS.clear()
    reader = exchange(router, f"GET /record HTTP/1.1\r\n{hosts}\r\n".encode())
    status, headers, body = reader.response()
    assert status == 400 and b"more than one Host header" in body
    assert headers[b"content-type"].startswith(b"text/html")  # the router's own page
    assert headers[b"connection"] == b"close" and reader.closed()
    assert HEADS == []


def test_a_pipelined_request_with_two_hosts_is_answered_in_its_turn(router):
    HEADS.clear()
    good = f"GET /record HTTP/1.1\r\nHost: {HOST}\r\n\r\n"
    bad = f"GET /record HTTP/1.1\r\nHost: {HOST}\r\nHost: other.bob.localhost\r\n\r\n"
    reader = exchange(router, (good + bad + good).encode())
    assert reader.response()[:3:2] == (200, b"ok")
    assert reader.response()[0] == 400
    assert reader.closed(), "nothing after the bad request is read"
    assert len(HEADS) == 1


def test_the_router_says_who_the_client_is_and_drops_what_the_client_claims(router):
    HEADS.clear()
    claims = ("X-Forwarded-For: 10.1.2.3\r\nx-forwarded-for: 10.9.9.9\r\n"
              "X-FORWARDED-PROTO: https\r\nX-Forwarded-Host: evil.example\r\n"
              "x-forwarded-host: evil.example\r\nForwarded: for=10.1.2.3;proto=https\r\n"
              "FORWARDED: for=\"[::1]\";host=evil.example\r\nX-Real-IP: 10.1.2.3\r\n"
              "x-real-ip: 10.4.4.4\r\nX-Real-Ip: 10.5.5.5\r\nX-Keep: yes\r\n")
    reader = exchange(router, f"GET /record HTTP/1.1\r\nHost: {HOST}\r\n{claims}\r\n".encode())
    assert reader.response()[0] == 200
    sent = app_headers(HEADS[-1])
    names = [name for name, _ in sent]
    assert "forwarded" not in names and "x-real-ip" not in names
    for name in ("host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"):
        assert names.count(name) == 1, f"{name}: {sent}"
    values = dict(sent)
    assert values["x-forwarded-for"] == "127.0.0.1"  # the router's peer: this test's socket
    assert values["x-forwarded-proto"] == "http"
    assert values["x-forwarded-host"] == HOST == values["host"]
    assert values["x-keep"] == "yes"
    assert "evil" not in HEADS[-1].decode() and "10." not in HEADS[-1].decode()


@pytest.mark.parametrize("target", ["http://other.bob.localhost/record",
                                    f"http://{HOST}/record", "record", "*"])
def test_a_target_that_is_not_a_path_is_a_400_that_never_reaches_the_app(router, target):
    # An absolute URI carries an authority of its own, which the app could read instead
    # of the Host the router routed by.
    HEADS.clear()
    reader = exchange(router, f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    status, _, body = reader.response()
    assert status == 400  # the parser's own refusal for "record", the router's for the rest
    assert HEADS == []


def test_connection_cannot_name_host_away(router):
    HEADS.clear()
    raw = f"GET /record HTTP/1.1\r\nHost: {HOST}\r\nConnection: host, x-drop\r\nX-Drop: 1\r\n\r\n"
    assert exchange(router, raw.encode()).response()[0] == 200
    names = [name for name, _ in app_headers(HEADS[-1])]
    assert names.count("host") == 1 and "x-drop" not in names

"""The router's caps per project (hostd.router.limits): exchanges in progress, tunnels,
and the idle timeout of a tunnel. No engine: a fixed route table and a scripted app."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from hostd.router.counts import RequestCounter
from hostd.router.limits import ProjectLimits
from hostd.router.proxy import Router
from hostd.router.table import Route
from tests.router.proxykit import RouterThread, ScriptedApp, StaticTable

SWITCH = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\n\r\n")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_counts_and_caps() -> None:
    limits = ProjectLimits(connections=2, tunnels=1)
    assert limits.admit("p", tunnel=True) is None
    assert "WebSocket" in (limits.admit("p", tunnel=True) or "")
    assert limits.admit("p", tunnel=False) is None
    assert "2 connections" in (limits.admit("p", tunnel=False) or "")
    assert limits.admit("q", tunnel=False) is None, "another project has its own count"
    limits.release("p", tunnel=True)
    assert limits.open("p") == (1, 0)
    limits.release("p", tunnel=False)
    assert limits.open("p") == (0, 0)
    assert ProjectLimits.decode(limits.encode()).connections == 2


class App:
    """/slow waits for `go`; /ws answers 101 and echoes raw bytes; / answers at once."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.scripts = {b"/slow": self.slow, b"/ws": self.tunnel, b"/": self.quick}

    def slow(self, head: bytes, sock: socket.socket) -> bool:
        self.go.wait(10)
        sock.sendall(OK)
        return True

    def quick(self, head: bytes, sock: socket.socket) -> bool:
        sock.sendall(OK)
        return True

    def tunnel(self, head: bytes, sock: socket.socket) -> bool:
        sock.sendall(SWITCH)
        sock.settimeout(30)
        while data := sock.recv(65536):
            sock.sendall(data)
        return False


@pytest.fixture
def router() -> Iterator[tuple[RouterThread, App]]:
    app = App()
    with ScriptedApp(app.scripts) as scripted:
        routes = {("shop", "alice"): Route("p-shop", "shop", "alice", "running", "c1",
                                           scripted.port)}
        limits = ProjectLimits(connections=2, tunnels=1, tunnel_idle_s=1.0)
        factory = lambda: Router(StaticTable(routes), RequestCounter(), limits=limits)  # noqa: E731
        with RouterThread(factory) as server:
            yield server, app
            app.go.set()
            assert server.errors == []


def send(server: RouterThread, path: str, upgrade: bool = False) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    extra = b"Connection: Upgrade\r\nUpgrade: websocket\r\n" if upgrade else b""
    sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: shop.alice.localhost\r\n"
                 + extra + b"\r\n")
    return sock


def read_head(sock: socket.socket) -> bytes:
    """At least the response head (and what came with it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def status(sock: socket.socket) -> int:
    return int(read_head(sock).split(b" ", 2)[1])


def eventually(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)


def test_past_the_connection_cap_a_503_page_and_a_slot_comes_back(router) -> None:
    server, app = router
    first, second = send(server, "/slow"), send(server, "/slow")
    time.sleep(0.3)  # both are with the app now
    third = send(server, "/")
    page = read_head(third)
    while b"</html>" not in page and (more := third.recv(65536)):
        page += more
    assert page.startswith(b"HTTP/1.1 503"), page
    assert b"shop is too busy" in page and b"2 connections" in page
    # A client that leaves gives its slot back at once, answered or not.
    first.close()
    eventually(lambda: status(send(server, "/")) == 200)
    app.go.set()
    assert status(second) == 200
    for sock in (second, third):
        sock.close()


def open_tunnel(server: RouterThread, timeout: float = 5.0) -> socket.socket:
    """A tunnel through the router, once a slot is free (a closed one's comes back)."""
    deadline = time.monotonic() + timeout
    while True:
        sock = send(server, "/ws", upgrade=True)
        if status(sock) == 101:
            return sock
        sock.close()
        assert time.monotonic() < deadline, "no tunnel slot came free"
        time.sleep(0.05)


def test_past_the_tunnel_cap_a_503_and_closing_one_frees_it(router) -> None:
    server, _ = router
    tunnel = open_tunnel(server)
    tunnel.sendall(b"ping")
    assert tunnel.recv(64) == b"ping"
    refused = send(server, "/ws", upgrade=True)
    assert status(refused) == 503
    assert status(send(server, "/")) == 200, "plain requests still pass"
    tunnel.close()
    open_tunnel(server).close()


def test_a_silent_tunnel_is_closed_after_the_idle_timeout(router) -> None:
    server, _ = router
    talking = open_tunnel(server)
    for _ in range(8):  # 1.6 s of traffic, past the 1 s timeout: it stays open
        talking.sendall(b"x")
        assert talking.recv(64) == b"x"
        time.sleep(0.2)
    talking.close()
    silent = open_tunnel(server)
    started = time.monotonic()
    silent.settimeout(5)
    assert silent.recv(64) == b"", "the router closed the silent tunnel"
    assert 0.8 < time.monotonic() - started < 3.0

"""Test kit for balancing: a replica of a web app on a loopback port (a real threaded TCP
server speaking just enough HTTP/1.1), and a client that sends requests through the router.

A replica answers GETs on four paths, each with its own name in the body:
`/who` at once, `/slow` after `delay_s`, `/hold` once `release` is set (it sets `holding`
when the request arrives), `/ws` with a `101` and then echoes bytes (a tunnel).
`hits[path]` counts what reached it.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections import Counter

import httpx

from tests.support import free_port

WAIT_S = 10.0


class Replica:
    def __init__(self, name: str, port: int | None = None, delay_s: float = 0.0) -> None:
        self.name, self.delay_s = name, delay_s
        self.hits: Counter[str] = Counter()
        self.holding, self.release = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()  # its connections, cut when it stops
        replica = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(WAIT_S)
                with replica._lock:
                    replica._open.add(sock)
                try:
                    self.serve(sock)
                finally:
                    with replica._lock:
                        replica._open.discard(sock)

            def serve(self, sock: socket.socket) -> None:
                buffer = b""
                while True:
                    while b"\r\n\r\n" not in buffer:
                        data = sock.recv(65536)
                        if not data:
                            return
                        buffer += data
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    path = head.split(b" ", 2)[1].decode()
                    if not replica.answer(path, sock):
                        return

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port or free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def answer(self, path: str, sock: socket.socket) -> bool:
        """Answer one request; False when the connection is done."""
        with self._lock:
            self.hits[path] += 1
        if path == "/ws":
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                         b"Upgrade: websocket\r\n\r\n")
            while data := sock.recv(65536):
                sock.sendall(data)
            return False
        if path == "/slow":
            time.sleep(self.delay_s)
        elif path == "/hold":
            self.holding.set()
            self.release.wait(WAIT_S)
        body = self.name.encode()
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return True

    def __enter__(self) -> Replica:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop as a killed app does: its connections (kept-alive ones too) cut."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class Client:
    """Requests to one project through the router, on keep-alive connections."""

    def __init__(self, router_port: int, host: str) -> None:
        self.url = f"http://127.0.0.1:{router_port}"
        self.headers = {"Host": f"{host}.localhost:{router_port}"}
        self.http = httpx.Client(base_url=self.url, headers=self.headers, timeout=WAIT_S)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def close(self) -> None:
        self.http.close()

    def tunnel(self, path: str = "/ws") -> socket.socket:
        """A raw upgraded connection through the router (the app's 101 read)."""
        sock = socket.create_connection(("127.0.0.1", int(self.url.rsplit(":", 1)[1])), WAIT_S)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.headers['Host']}\r\n"
                     "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(4096)
            assert data, "the router closed the tunnel before the app's answer"
            head += data
        assert head.startswith(b"HTTP/1.1 101"), head
        return sock


class HangUp:
    """A port that accepts and closes at once, reading nothing: what the engine's port
    proxy does for a replica killed a moment ago. `accepted` counts the connections."""

    def __init__(self) -> None:
        self.accepted = 0
        self.sock = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed: the end
                return
            self.accepted += 1
            conn.close()

    def __enter__(self) -> HangUp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close would not)
        self.sock.close()
        self._thread.join(WAIT_S)

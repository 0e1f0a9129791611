"""Test kit for the router without an engine: a fixed route table, the router on its own
event loop in a thread, and a scripted app (a real TCP server whose answers are raw bytes,
so each framing and failure of HTTP/1.1 can be produced on purpose).
"""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
from collections.abc import Callable

from hostd.router.sockets import bind_listener
from hostd.router.table import Route
from tests.support import free_port


class StaticTable:
    """A route table that never changes (the real one reads the database)."""

    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes

    async def lookup(self, name: str, handle: str) -> Route | None:
        return self.routes.get((name, handle))

    def invalidate(self) -> None:
        pass


class RouterThread:
    """The router on a free loopback port, on its own event loop in a thread.

    The loop is uvloop's, as in the daemon. `errors` collects what the loop's exception
    handler saw (an exception escaping a protocol callback): tests assert it stays empty.
    """

    def __init__(self, router_factory) -> None:
        import uvloop

        self.port = free_port()
        self._factory = router_factory
        self._loop = uvloop.new_event_loop()
        self.errors: list[dict] = []
        self._loop.set_exception_handler(lambda loop, context: self.errors.append(context))
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        router = self._factory()
        self._stop = asyncio.Event()
        sock = bind_listener("127.0.0.1", self.port, reuse_port=False, backlog=2048)
        server = await router.serve(sock)
        self._started.set()
        await self._stop.wait()
        await router.shutdown(server, grace_s=1.0)
        sock.close()

    def __enter__(self) -> RouterThread:
        self._thread.start()
        assert self._started.wait(10), "router did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)




Script = Callable[[bytes, socket.socket], bool]  # (request head, socket) → keep the connection?


class ScriptedApp:
    """An app on a free loopback port: `scripts[path]` writes the raw answer to a request.

    Requests with a body are not read beyond the head, so scripts are for GET/HEAD.
    `connections` counts TCP connections accepted; `closed_by_peer` counts connections
    that the router closed while the script was still writing (a client went away).
    """

    def __init__(self, scripts: dict[bytes, Script]) -> None:
        self.scripts = scripts
        self.connections = 0
        self.closed_by_peer = 0
        app = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                app.connections += 1
                sock: socket.socket = self.request
                sock.settimeout(10)
                buffer = b""
                while True:
                    while b"\r\n\r\n" not in buffer:
                        data = sock.recv(65536)
                        if not data:
                            return
                        buffer += data
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    path = head.split(b" ", 2)[1].split(b"?")[0]
                    try:
                        keep = app.scripts[path](head, sock)
                    except (BrokenPipeError, ConnectionResetError):
                        app.closed_by_peer += 1
                        return
                    if not keep:
                        return

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedApp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

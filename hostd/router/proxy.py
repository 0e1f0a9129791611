"""The data plane: a reverse proxy from `{name}.{handle}.localhost` to the project's app.

An asyncio protocol per client connection, on the router's own listening socket (see
`hostd.router.serve`, `hostd.router.worker`). Requests are parsed by httptools (llhttp, as in
uvicorn); the head goes to the app through `hostd.router.upstream` (a keep-alive pool per app
port) with X-Forwarded-*, and both bodies are passed on piece by piece as they arrive,
under flow control: a slow reader on either side pauses the other. WebSocket (and any
other) upgrades become a byte tunnel once the app answers `101`. The app's answer is the
user's answer: only when no app can answer does the router speak itself, with a small
HTML page (404 unknown host, 503 project not running, 502/504 app not answering).
Every response an app gives is counted.

Three pieces, as uvicorn splits `HttpToolsProtocol` from `RequestResponseCycle`: `Router`
here, what all connections share (route table, counter, app pool, timeouts, shutdown);
`hostd.router.connection.ClientConnection`, the asyncio protocol of one client connection
(parser, pipelining queue, flow control, timers, keep-alive); and
`hostd.router.cycle.RequestCycle`, one request's exchange with the app. Which of a
project's web replicas takes a request is the balancer's choice (`hostd.router.balance`).

Why not an ASGI app: proxying through uvicorn's ASGI layer and an HTTP client library
cost ~0.5 ms of CPU per request; here the bytes of a message pass through untouched
apart from the head.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import TYPE_CHECKING, Protocol

from hostd.router import pages
from hostd.router.balance import Balancer
from hostd.router.connection import ClientConnection
from hostd.router.limits import ProjectLimits
from hostd.router.table import Route, parse_host
from hostd.router.upstream import UpstreamConnection, UpstreamPool

if TYPE_CHECKING:
    import socket

KEEP_ALIVE_S = 30.0  # an idle client connection is closed after this long
HEAD_TIMEOUT_S = 30.0  # to send a whole request head, once begun
RESPONSE_TIMEOUT_S = 300.0  # for the app to start answering → 504


class Hits(Protocol):
    """Where the router counts answered requests: the daemon's counter, or a worker's."""

    def hit(self, project_id: str, started: str) -> None: ...


class Table(Protocol):
    async def lookup(self, name: str, handle: str) -> Route | None: ...
    def invalidate(self) -> None: ...


class Router:
    """What all client connections share: the route table, the counter, the app pool."""

    def __init__(self, table: Table, counter: Hits, *,
                 response_timeout_s: float = RESPONSE_TIMEOUT_S,
                 head_timeout_s: float = HEAD_TIMEOUT_S,
                 keep_alive_s: float = KEEP_ALIVE_S,
                 limits: ProjectLimits | None = None,
                 apps_domain: str | None = None) -> None:
        self.table = table
        self.apps_domain = apps_domain  # names under it are projects', as *.localhost
        self.limits = limits or ProjectLimits()
        self.counter = counter
        self.response_timeout_s = response_timeout_s
        self.head_timeout_s = head_timeout_s
        self.keep_alive_s = keep_alive_s
        self.pool = UpstreamPool()
        self.balancer = Balancer(self.pool.in_flight)
        self.connections: set[ClientConnection] = set()

    async def serve(self, sock: socket.socket) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: ClientConnection(self), sock=sock)

    async def shutdown(self, server: asyncio.Server, grace_s: float = 5.0) -> None:
        """Stop accepting; let exchanges under way finish for up to `grace_s`; close all."""
        server.close()
        for conn in list(self.connections):
            conn.close_if_idle()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.abort()
        self.pool.close()

    async def resolve(self, host: str) -> Route | pages.Answer:
        key = parse_host(host, self.apps_domain)
        route = await self.table.lookup(*key) if key else None
        if route is None:
            return pages.not_found()
        if not route.serving:
            return pages.not_serving(route.name, route.status)
        return route

    async def connect(self, route: Route, host: str,
                      avoid: Collection[int] = ()) -> tuple[Route, UpstreamConnection]:
        """A connection to one of the app's upstreams but `avoid`, the balancer's choice;
        OSError (TimeoutError) when none can be reached. A failed connect has sent nothing
        yet, so the request may go to another upstream: each is tried once at most."""
        tried: set[int] = set(avoid)
        try:
            return route, await self._connect_any(route, tried)
        except OSError:
            # The container may have restarted on a new port, or the replicas changed,
            # since the table was loaded: look again, and try the ports that are new.
            self.table.invalidate()
            fresh = await self.resolve(host)
            if not isinstance(fresh, Route) or not set(fresh.ports) - tried:
                raise
            return fresh, await self._connect_any(fresh, tried)

    async def _connect_any(self, route: Route, tried: set[int]) -> UpstreamConnection:
        failure: OSError | None = None
        while (port := self.balancer.choose(route.project_id, route.ports, tried)) is not None:
            tried.add(port)
            try:
                conn = await self.pool.acquire(port)
            except OSError as exc:
                self.balancer.failed(port)
                failure = exc
                continue
            self.balancer.succeeded(port)
            return conn
        raise failure or ConnectionRefusedError(f"{route.name} has no upstream")

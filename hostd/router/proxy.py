"""The data plane: a reverse proxy from `{name}.{handle}.localhost` to the project's container.

An asyncio protocol per client connection, on the router's own listening socket (see
`hostd.router.serve`, `hostd.router.worker`). Requests are parsed by httptools (llhttp, as in
uvicorn); the head goes to the app through `hostd.router.upstream` (a keep-alive pool per app
port) with X-Forwarded-*, and both bodies are passed on piece by piece as they arrive,
under flow control: a slow reader on either side pauses the other. WebSocket (and any
other) upgrades become a byte tunnel once the app answers `101`. The app's answer is the
user's answer: only when no app can answer does the router speak itself, with a small
HTML page (404 unknown host, 503 project not running, 502/504 app not answering).
Every response an app gives is counted.

Why not an ASGI app: proxying through uvicorn's ASGI layer and an HTTP client library
cost ~0.5 ms of CPU per request; here the bytes of a message pass through untouched
apart from the head.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from hostd.router.http11 import (
    LAST_CHUNK,
    Framing,
    Headers,
    chunk,
    raw_head,
    request_framing,
    response_framing,
    response_head,
    upstream_request_head,
)
from hostd.router.pages import page_response
from hostd.router.table import Route, parse_host
from hostd.router.upstream import UpstreamConnection, UpstreamPool

if TYPE_CHECKING:
    import socket

log = logging.getLogger("hostd.router")
KEEP_ALIVE_S = 30.0  # an idle client connection is closed after this long
HEAD_TIMEOUT_S = 30.0  # to send a whole request head, once begun
RESPONSE_TIMEOUT_S = 300.0  # for the app to start answering → 504
MAX_HEAD_BYTES = 64 * 1024
MAX_BUFFERED_BODY = 256 * 1024  # request body held while the app's connection opens
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Hits(Protocol):
    """Where the router counts answered requests: the daemon's counter, or a worker's."""

    def hit(self, project_id: str, started: str) -> None: ...


class Table(Protocol):
    async def lookup(self, name: str, handle: str) -> Route | None: ...
    def invalidate(self) -> None: ...


def not_running_detail(route: Route) -> str:
    detail = f"The project {route.name} is {route.status}, so it cannot answer right now."
    return f"{detail} Reason: {route.reason}" if route.reason else detail


class Router:
    """What all client connections share: the route table, the counter, the app pool."""

    def __init__(self, table: Table, counter: Hits, *,
                 response_timeout_s: float = RESPONSE_TIMEOUT_S,
                 head_timeout_s: float = HEAD_TIMEOUT_S,
                 keep_alive_s: float = KEEP_ALIVE_S) -> None:
        self.table = table
        self.counter = counter
        self.response_timeout_s = response_timeout_s
        self.head_timeout_s = head_timeout_s
        self.keep_alive_s = keep_alive_s
        self.pool = UpstreamPool()
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

    async def resolve(self, host: str) -> Route | tuple[int, str, str]:
        key = parse_host(host)
        route = await self.table.lookup(*key) if key else None
        if route is None:
            return 404, "No such project", (
                f"Nothing is deployed at {host or 'this address'}. Project URLs look like "
                "http://<project>.<handle>.localhost:<port>/.")
        if not route.serving:
            return 503, f"{route.name} is {route.status}", not_running_detail(route)
        return route

    async def connect(self, route: Route, host: str) -> tuple[Route, UpstreamConnection]:
        """A connection to the app; OSError/TimeoutError when it can't be reached."""
        try:
            return route, await self.pool.acquire(route.host_port or 0)
        except OSError:
            # The container may have restarted on a new port since the table was
            # loaded: look again, and retry once if it moved.
            self.table.invalidate()
            fresh = await self.resolve(host)
            if not isinstance(fresh, Route) or fresh.host_port == route.host_port:
                raise
            return fresh, await self.pool.acquire(fresh.host_port or 0)


class Request:
    """One request as parsed so far."""

    __slots__ = ("target", "headers", "host", "method", "http11", "keep_alive", "upgrade",
                 "framing", "expect_continue", "body", "buffered", "complete", "upstream",
                 "head_bytes")

    def __init__(self) -> None:
        self.target = b""
        self.headers: Headers = []
        self.host = b""
        self.method = b"GET"
        self.http11 = True
        self.keep_alive = True
        self.upgrade: bytes | None = None
        self.framing = Framing.NONE  # set header by header, as they arrive
        self.expect_continue = False
        self.body: list[bytes] = []  # received before the app's connection was ready
        self.buffered = 0
        self.complete = False
        self.upstream: UpstreamConnection | None = None
        self.head_bytes = 0

    @property
    def replayable(self) -> bool:
        return self.framing is Framing.NONE and self.upgrade is None


class ClientConnection(asyncio.Protocol):
    """One client's connection: requests answered one at a time, in order."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client_ip = "unknown"
        self.closed = False
        self.pending: deque[Request] = deque()  # parsed, unanswered; [0] is being answered
        self.reading: Request | None = None  # the request the parser is in
        self.raw = False  # after an upgrade request: the client's bytes are not HTTP
        self.tunnel = False  # the app accepted the upgrade
        self.route: Route | None = None
        self.response: tuple[Framing, Framing] | None = None  # app's, client's framing
        self.keep = True
        self.out: list[bytes] = []  # the app's answer, written at the end of its read
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.response_timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's isn't a subclass
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self.client_ip = str(peer[0])
        self.router.connections.add(self)
        self._set_timer(self.router.keep_alive_s)

    def data_received(self, data: bytes) -> None:
        if self.raw:
            self._raw_from_client(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.raw = True
            rest = data[upgrade.args[0]:]
            if rest:
                self._raw_from_client(rest)
        except httptools.HttpParserError as exc:
            self._bad_request(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.router.connections.discard(self)
        self._cancel_timers()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        upstream = self.pending[0].upstream if self.pending else None
        if upstream is not None:
            upstream.abort()  # mid-exchange: that connection can't be reused
        self.pending.clear()

    def pause_writing(self) -> None:
        upstream = self._upstream()
        if upstream is not None:
            upstream.pause_reading()

    def resume_writing(self) -> None:
        upstream = self._upstream()
        if upstream is not None:
            upstream.resume_reading()

    # --- httptools callbacks (the client's request) -------------------------------------

    def on_message_begin(self) -> None:
        self.reading = Request()
        if self.pending:  # pipelined: hold further bytes until its turn
            self._pause_reading()
        else:
            self._set_timer(self.router.head_timeout_s)

    def on_url(self, url: bytes) -> None:
        request = self._current()
        request.target += url
        self._count_head(request, len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self._current()
        request.headers.append((name, value))
        low = name.lower()
        if low == b"host":
            request.host = value  # the last one, as clients that add theirs intend
        elif low == b"expect":
            request.expect_continue = True
        else:
            request.framing = request_framing(low, value, request.framing)
        self._count_head(request, len(name) + len(value))

    def on_headers_complete(self) -> None:
        request = self._current()
        request.method = self.parser.get_method()
        request.http11 = self.parser.get_http_version() == "1.1"
        request.keep_alive = self.parser.should_keep_alive()
        if self.parser.should_upgrade():
            request.upgrade = next((v for n, v in request.headers if n.lower() == b"upgrade"),
                                   b"")
        self.pending.append(request)
        if len(self.pending) == 1:
            self._begin(request)

    def on_body(self, body: bytes) -> None:
        request = self._current()
        if request.upstream is not None:
            self._forward_body(request, body)
            return
        request.body.append(body)
        request.buffered += len(body)
        if request.buffered > MAX_BUFFERED_BODY:
            self._pause_reading()

    def on_message_complete(self) -> None:
        request = self._current()
        request.complete = True
        self.reading = None
        if request.upstream is not None:
            if request.framing is Framing.CHUNKED:
                request.upstream.write(LAST_CHUNK)
            if self.pending and request is self.pending[0] and self.response is None:
                self._await_response()

    # --- one exchange ---------------------------------------------------------------------

    def _begin(self, request: Request) -> None:
        self._cancel_timer()
        self.route, self.response, self.keep = None, None, request.keep_alive
        self.task = self.loop.create_task(self._exchange(request))

    async def _exchange(self, request: Request) -> None:
        host = request.host.decode("latin-1")
        try:
            found = await self.router.resolve(host)
            if not isinstance(found, Route):
                self._answer_page(*found)
                return
            if request.expect_continue:
                self._write(CONTINUE)
            try:
                self.route, upstream = await self.router.connect(found, host)
            except TimeoutError:
                self._answer_page(504, "The app did not answer in time",
                                  f"{found.name} did not accept a connection in time.")
                return
            except OSError as exc:
                self._answer_page(502, "The app is not answering",
                                  f"{found.name} could not be reached ({type(exc).__name__}).")
                return
            if not self.closed:
                self._send(request, upstream, host)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("router: unexpected error proxying to %s", host)
            self._fail(502, "The app is not answering", "The router could not pass this on.")

    def _send(self, request: Request, upstream: UpstreamConnection, host: str) -> None:
        head = upstream_request_head(request.method, request.target, request.headers,
                                     request.framing,
                                     self.client_ip, request.host, request.upgrade)
        request.upstream = upstream
        upstream.start(self, head, skip_body=request.method == b"HEAD")
        for piece in request.body:
            self._forward_body(request, piece)
        request.body, request.buffered = [], 0
        if request.complete and request.framing is Framing.CHUNKED:
            upstream.write(LAST_CHUNK)
        self._resume_reading()
        if request.complete:
            self._await_response()

    def _await_response(self) -> None:
        """The whole request is with the app: from now on it has the response timeout to
        start answering (an upload in progress is not the app being late)."""
        self._cancel_response_timer()
        self.response_timer = self.loop.call_later(self.router.response_timeout_s,
                                                  self._response_late)

    def _forward_body(self, request: Request, data: bytes) -> None:
        assert request.upstream is not None
        framed = request.framing is Framing.CHUNKED
        request.upstream.write(chunk(data) if framed else data)

    def _raw_from_client(self, data: bytes) -> None:
        request = self.pending[0] if self.pending else None
        if request is None:
            return
        if request.upstream is not None:
            request.upstream.write(data)
        else:
            request.body.append(data)

    # --- the app's answer (upstream.Sink) ------------------------------------------------

    def on_response_head(self, status: int, reason: bytes, headers: Headers) -> None:
        self._cancel_response_timer()
        request = self.pending[0]
        if self.route is not None:
            self.router.counter.hit(self.route.project_id, self.route.started)
        if status == 101 and request.upgrade is not None:
            self.tunnel = True
            self._queue(raw_head(status, reason, headers))
            return
        app, client = response_framing(status, headers, request.method == b"HEAD",
                                       request.http11)
        self.response = (app, client)
        # An upgrade the app refused leaves the client's bytes unparseable: close after.
        self.keep = self.keep and client is not Framing.CLOSE and request.upgrade is None
        self._queue(response_head(status, reason, headers, client, self.keep, request.http11))

    def on_response_body(self, data: bytes) -> None:
        if self.response is not None and self.response[1] is Framing.CHUNKED:
            if data:
                self._queue(chunk(data))
        else:
            self._queue(data)

    def on_upgraded(self, rest: bytes) -> None:
        if rest:
            self._queue(rest)

    def on_response_end(self) -> None:
        if self.response is not None and self.response[1] is Framing.CHUNKED:
            self._queue(LAST_CHUNK)
        self._finish()

    def flush(self) -> None:
        """Write what the app's last read produced, in one send (head and body together)."""
        if self.out:
            data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
            self.out = []
            if not self.closed and self.transport is not None:
                self.transport.write(data)

    def on_upstream_lost(self) -> None:
        if self.closed or not self.pending:
            return
        request = self.pending[0]
        upstream = request.upstream
        if self.tunnel or (self.response is not None and self.response[0] is not Framing.CLOSE):
            self._close()  # a tunnel ended, or a response was cut short: say so by closing
            return
        if self.response is not None:
            self.on_response_end()  # a body delimited by the close is complete
            return
        self._cancel_response_timer()
        if upstream is not None and upstream.reused and not upstream.responded \
                and request.replayable:
            # A kept-alive connection the app had closed meanwhile: try a fresh one.
            request.upstream = None
            self.task = self.loop.create_task(self._exchange(request))
            return
        name = self.route.name if self.route is not None else "the app"
        self._fail(502, "The app is not answering",
                   f"{name} closed the connection without answering.")

    def pause_client(self) -> None:
        self._pause_reading()

    def resume_client(self) -> None:
        self._resume_reading()

    # --- endings --------------------------------------------------------------------------

    def _finish(self) -> None:
        """The exchange at the head of the queue is answered; go on to the next."""
        self._cancel_response_timer()
        request = self.pending.popleft() if self.pending else None
        self.response = None
        if request is None or not self.keep or not request.complete or self.closed:
            self._close()
            return
        if self.pending:
            self._begin(self.pending[0])
        else:
            self._set_timer(self.router.keep_alive_s)
        self._resume_reading()

    def _answer_page(self, status: int, title: str, detail: str) -> None:
        request = self.pending[0]
        # Unread body bytes would be taken for the next request: close instead.
        self.keep = self.keep and (request.complete or request.framing is Framing.NONE) \
            and not self.raw
        self._write(page_response(status, title, detail, self.keep, request.http11))
        self._finish()

    def _fail(self, status: int, title: str, detail: str) -> None:
        if self.closed or not self.pending:
            return
        upstream = self.pending[0].upstream
        if upstream is not None:
            upstream.abort()
        if self.response is not None or self.tunnel:
            self._close()  # the head has gone out: all we can say is a short response
            return
        self.keep = False
        self._answer_page(status, title, detail)

    def _response_late(self) -> None:
        self.response_timer = None
        if self.response is None and not self.tunnel:
            name = self.route.name if self.route is not None else "The app"
            self._fail(504, "The app did not answer in time",
                       f"{name} took too long to answer this request.")

    def _bad_request(self, exc: Exception) -> None:
        if not self.pending:
            detail = "The request is not valid HTTP/1.1."
            self._write(page_response(400, "Bad request", detail, keep_alive=False))
        self._close()

    def _count_head(self, request: Request, size: int) -> None:
        request.head_bytes += size
        if request.head_bytes > MAX_HEAD_BYTES:
            self._write(page_response(431, "Request head too large",
                                      "The request line and headers exceed 64 KiB.", False))
            self._close()
            raise httptools.HttpParserError("head too large")  # stop the parser here

    # --- small helpers --------------------------------------------------------------------

    def _current(self) -> Request:
        if self.reading is None:  # a callback without a message: llhttp never does this
            self.reading = Request()
        return self.reading

    def _upstream(self) -> UpstreamConnection | None:
        return self.pending[0].upstream if self.pending else None

    def _queue(self, data: bytes) -> None:
        self.out.append(data)

    def _write(self, data: bytes) -> None:
        self.flush()
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def _pause_reading(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if not self.closed and self.transport is not None and not (
                len(self.pending) > 1):
            self.transport.resume_reading()

    def _close(self) -> None:
        upstream = self._upstream()
        if upstream is not None and (self.tunnel or self.response is not None):
            upstream.abort()
        self.flush()
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def close_if_idle(self) -> None:
        if not self.pending:
            self._close()
        else:
            self.keep = False  # close once the exchange under way is answered

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _set_timer(self, delay: float) -> None:
        self._cancel_timer()
        self.timer = self.loop.call_later(delay, self._timed_out)

    def _timed_out(self) -> None:
        self.timer = None
        if not self.pending:
            self._close()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _cancel_response_timer(self) -> None:
        if self.response_timer is not None:
            self.response_timer.cancel()
            self.response_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_timer()
        self._cancel_response_timer()

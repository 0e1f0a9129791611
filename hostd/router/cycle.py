"""One request's life in the router, from its turn in the queue to its last byte.

A `RequestCycle` is made by the client's connection (`hostd.router.connection`) when a
parsed `Request` comes to the head of its queue. It looks the route up, checks a
connection to the app out of the pool, forwards the head and the body, and relays the
app's answer (it is the upstream connection's `Sink`); when no app can answer, it answers
itself with a page (404, 503, 502, 504). At the end it hands the connection back to its
protocol (`ClientConnection.finished`), which goes on to the next request or closes.
While it passes a request on, it holds one of its project's slots (`hostd.router.limits`):
taken before the app is contacted, given back when it is answered or its client leaves
(`_finish`, `cancel`). A tunnel silent both ways for the idle timeout is closed.

What it shares with the connection is the connection's write side: the app's answer is
queued there and written in one send at the end of each read from the app (`flush`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from hostd.router.http11 import (
    LAST_CHUNK,
    Framing,
    Headers,
    chunk,
    raw_head,
    response_framing,
    response_head,
    upstream_request_head,
)
from hostd.router.pages import no_answer, page_response
from hostd.router.table import Route

if TYPE_CHECKING:
    from hostd.router.connection import ClientConnection
    from hostd.router.upstream import UpstreamConnection

log = logging.getLogger("hostd.router")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# A request with one of these methods may go to another upstream after one hung up on it
# without a byte of answer (RFC 9110 9.2.2; nginx's proxy_next_upstream retries no other).
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


class Request:
    """One request as parsed so far."""

    __slots__ = ("target", "headers", "host", "method", "http11", "keep_alive", "upgrade",
                 "framing", "expect_continue", "body", "buffered", "complete", "upstream",
                 "head_bytes", "refused")

    def __init__(self) -> None:
        self.target = b""
        self.headers: Headers = []
        self.host: bytes | None = None  # None: no Host header (yet)
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
        self.refused: str | None = None  # why it is a 400, though well-formed HTTP/1.1

    @property
    def replayable(self) -> bool:
        return self.framing is Framing.NONE and self.upgrade is None

    def forward_body(self, data: bytes) -> None:
        """Pass a piece of the body on to the app, framed as the request said."""
        assert self.upstream is not None
        framed = self.framing is Framing.CHUNKED
        self.upstream.write(chunk(data) if framed else data)


class RequestCycle:
    """The exchange for the request at the head of a client connection's queue."""

    __slots__ = ("conn", "request", "route", "response", "keep", "tunnel", "task",
                 "response_timer", "held", "active_at", "tried")

    def __init__(self, conn: ClientConnection, request: Request) -> None:
        self.conn = conn
        self.request = request
        self.route: Route | None = None
        self.response: tuple[Framing, Framing] | None = None  # app's, client's framing
        self.keep = request.keep_alive
        self.tunnel = False  # the app accepted the upgrade
        self.task: asyncio.Task[None] | None = None
        # The response timer, and once a tunnel is up, its idle timer.
        self.response_timer: asyncio.TimerHandle | None = None
        self.held: str | None = None  # the project whose slot this exchange holds
        self.active_at = 0.0  # a tunnel's last byte, either way
        self.tried: set[int] = set()  # upstreams that hung up on it unanswered

    def start(self) -> None:
        self.task = self.conn.loop.create_task(self._exchange())

    # --- to the app -------------------------------------------------------------------------

    async def _exchange(self) -> None:
        request, router = self.request, self.conn.router
        if request.refused is not None:
            self.keep = False
            self._answer_page(400, "Bad request", request.refused)
            return
        host = (request.host or b"").decode("latin-1")
        try:
            found = await router.resolve(host)
            if not isinstance(found, Route):
                self._answer_page(*found)
                return
            if self.held is None and not self._admit(found):
                return
            if request.expect_continue:
                self.conn.write(CONTINUE)
            try:
                self.route, upstream = await router.connect(found, host, self.tried)
            except TimeoutError:
                self._answer_page(*no_answer(504, found.name))
                return
            except OSError:
                self._answer_page(*no_answer(502, found.name))
                return
            if not self.conn.closed:
                self._send(upstream)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("router: unexpected error proxying to %s", host)
            self._fail(*no_answer(502, "The app"))

    def _admit(self, route: Route) -> bool:
        """Take a slot of the project (False: a 503 page went out instead)."""
        refused = self.conn.router.limits.admit(route.project_id, self.request.upgrade is not None)
        if refused is not None:
            self._answer_page(503, f"{route.name} is too busy",
                              f"{route.name} cannot take another connection: {refused}. "
                              "Try again in a moment.")
            return False
        self.held = route.project_id
        return True

    def _release(self) -> None:
        if self.held is not None:
            self.conn.router.limits.release(self.held, self.request.upgrade is not None)
            self.held = None

    def _send(self, upstream: UpstreamConnection) -> None:
        request = self.request
        head = upstream_request_head(request.method, request.target, request.headers,
                                     request.framing, self.conn.forwarded,
                                     request.host or b"", request.upgrade)
        request.upstream = upstream
        upstream.start(self, head, skip_body=request.method == b"HEAD")
        for piece in request.body:
            request.forward_body(piece)
        request.body, request.buffered = [], 0
        if request.complete and request.framing is Framing.CHUNKED:
            upstream.write(LAST_CHUNK)
        self.conn.resume_reading()
        if request.complete:
            self.await_response()

    def await_response(self) -> None:
        """The whole request is with the app: from now on it has the response timeout to
        start answering (an upload in progress is not the app being late)."""
        if self.tunnel:
            return  # the upgrade was answered already; its timer is the idle one
        self._cancel_response_timer()
        self.response_timer = self.conn.loop.call_later(self.conn.router.response_timeout_s,
                                                       self._response_late)

    # --- the app's answer (upstream.Sink) ------------------------------------------------

    def on_response_head(self, status: int, reason: bytes, headers: Headers) -> None:
        self._cancel_response_timer()
        request = self.request
        if self.route is not None:
            self.conn.router.counter.hit(self.route.project_id, self.route.started)
        if status == 101 and request.upgrade is not None:
            self.tunnel = True
            self.conn.queue(raw_head(status, reason, headers))
            self.touch()
            self._idle_check()
            return
        app, client = response_framing(status, headers, request.method == b"HEAD",
                                       request.http11)
        self.response = (app, client)
        # An upgrade the app refused leaves the client's bytes unparseable: close after.
        self.keep = self.keep and client is not Framing.CLOSE and request.upgrade is None
        self.conn.queue(response_head(status, reason, headers, client, self.keep,
                                      request.http11))

    def on_response_body(self, data: bytes) -> None:
        if self.response is not None and self.response[1] is Framing.CHUNKED:
            if data:
                self.conn.queue(chunk(data))
        else:
            self.conn.queue(data)
            if self.tunnel:
                self.active_at = self.conn.loop.time()

    def touch(self) -> None:
        """Bytes went through the tunnel."""
        self.active_at = self.conn.loop.time()

    def _idle_check(self) -> None:
        # One timer a tunnel, re-armed for what is left of the timeout: no timer work
        # per byte, only a timestamp.
        self.response_timer = None
        limit = self.conn.router.limits.tunnel_idle_s
        idle = self.conn.loop.time() - self.active_at
        if idle >= limit:
            log.info("router: closing a WebSocket tunnel idle for %.0f s", idle)
            self.conn.close()
            return
        self.response_timer = self.conn.loop.call_later(limit - idle, self._idle_check)

    def on_upgraded(self, rest: bytes) -> None:
        if rest:
            self.conn.queue(rest)

    def on_response_end(self) -> None:
        if self.response is not None and self.response[1] is Framing.CHUNKED:
            self.conn.queue(LAST_CHUNK)
        self._finish()

    def flush(self) -> None:
        self.conn.flush()

    def on_upstream_lost(self) -> None:
        if self.conn.closed or self.conn.cycle is not self:
            return
        request = self.request
        upstream = request.upstream
        if self.tunnel or (self.response is not None and self.response[0] is not Framing.CLOSE):
            self.conn.close()  # a tunnel ended, or a response was cut short: say so by closing
            return
        if self.response is not None:
            self.on_response_end()  # a body delimited by the close is complete
            return
        self._cancel_response_timer()
        if upstream is not None and not upstream.responded and request.replayable \
                and (upstream.reused or self._elsewhere(upstream.port)):
            # A kept-alive connection the app had closed meanwhile: try a fresh one. Or a
            # fresh one closed unanswered (a replica just killed: the engine's port proxy
            # still accepts, then hangs up): an idempotent request goes to another replica.
            request.upstream = None
            self.start()
            return
        self._fail(*no_answer(502, self.route.name if self.route is not None else "The app"))

    def _elsewhere(self, port: int) -> bool:
        """Whether the request may try another replica than `port`, which hung up on it
        unanswered (taken out of the balance for a while: the requests after it too).
        Once only: a request that makes the app exit takes down two replicas at most."""
        self.conn.router.balancer.failed(port)
        if self.request.method not in IDEMPOTENT or self.route is None or self.tried \
                or not set(self.route.ports) - {port}:
            return False
        self.tried.add(port)
        return True

    def pause_client(self) -> None:
        self.conn.pause_reading()

    def resume_client(self) -> None:
        self.conn.resume_reading()

    # --- endings --------------------------------------------------------------------------

    def _finish(self) -> None:
        """This exchange is answered: the connection goes on to the next."""
        self._cancel_response_timer()
        self._release()
        self.response = None
        self.conn.finished(self.keep)

    def _answer_page(self, status: int, title: str, detail: str) -> None:
        request = self.request
        # Unread body bytes would be taken for the next request: close instead.
        self.keep = self.keep and (request.complete or request.framing is Framing.NONE) \
            and not self.conn.raw
        self.conn.write(page_response(status, title, detail, self.keep, request.http11))
        self._finish()

    def _fail(self, status: int, title: str, detail: str) -> None:
        if self.conn.closed or self.conn.cycle is not self:
            return
        upstream = self.request.upstream
        if upstream is not None:
            upstream.abort()
        if self.response is not None or self.tunnel:
            self.conn.close()  # the head has gone out: all we can say is a short response
            return
        self.keep = False
        self._answer_page(status, title, detail)

    def _response_late(self) -> None:
        self.response_timer = None
        if self.response is None and not self.tunnel:
            self._fail(*no_answer(504, self.route.name if self.route is not None else "The app"))

    def abort_answer(self) -> None:
        """The client's connection closes: an answer under way from the app is cut off."""
        upstream = self.request.upstream
        if upstream is not None and (self.tunnel or self.response is not None):
            upstream.abort()

    def cancel(self) -> None:
        """The client has gone: stop the timer and the task, give back the slot."""
        self._cancel_response_timer()
        self._release()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def _cancel_response_timer(self) -> None:
        if self.response_timer is not None:
            self.response_timer.cancel()
            self.response_timer = None

"""A client's connection to the router: the asyncio protocol, parsing with httptools.

It owns what lives as long as the connection: the transport and its flow control, the
parser and its callbacks, the queue of pipelined requests (answered one at a time, in
order: the head of the queue has a `RequestCycle`, the others wait with their reading
paused), the idle and request-head timers, keep-alive, and the batching of writes.
What happens to one request is the cycle's (`hostd.router.cycle`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from hostd.router.cycle import Request, RequestCycle
from hostd.router.http11 import LAST_CHUNK, Framing, forwarded_lines, request_framing
from hostd.router.pages import page_response

if TYPE_CHECKING:
    from hostd.router.proxy import Router
    from hostd.router.upstream import UpstreamConnection

MAX_HEAD_BYTES = 64 * 1024
MAX_BUFFERED_BODY = 256 * 1024  # request body held while the app's connection opens


class ClientConnection(asyncio.Protocol):
    """One client's connection: requests answered one at a time, in order."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client_ip = "unknown"
        self.forwarded = b""  # its X-Forwarded-For and -Proto lines, the same for each request
        self.closed = False
        self.pending: deque[Request] = deque()  # parsed, unanswered; [0] is being answered
        self.cycle: RequestCycle | None = None  # the exchange for pending[0]
        self.reading: Request | None = None  # the request the parser is in
        self.raw = False  # after an upgrade request: the client's bytes are not HTTP
        self.out: list[bytes] = []  # the app's answer, written at the end of its read
        self.timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's isn't a subclass
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self.client_ip = str(peer[0])
        scheme = "https" if transport.get_extra_info("sslcontext") is not None else "http"
        self.forwarded = forwarded_lines(self.client_ip, scheme)
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
        self._cancel_timer()
        if self.cycle is not None:
            self.cycle.cancel()
            self.cycle = None
        upstream = self._upstream()
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
            self.pause_reading()
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
            if request.host is not None:  # the router and the app could read different ones
                request.refused = "The request has more than one Host header."
            request.host = value
        elif low == b"expect":
            request.expect_continue = True
        else:
            request.framing = request_framing(low, value, request.framing)
        self._count_head(request, len(name) + len(value))

    def on_headers_complete(self) -> None:
        request = self._current()
        request.method = self.parser.get_method()
        if request.refused is None and not _origin_form(request.target, request.method):
            # An absolute URI names a host of its own, which the app could read instead of
            # the Host the router routed by (as with two Host headers).
            request.refused = "The request target must be a path (origin form)."
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
            request.forward_body(body)
            return
        request.body.append(body)
        request.buffered += len(body)
        if request.buffered > MAX_BUFFERED_BODY:
            self.pause_reading()

    def on_message_complete(self) -> None:
        request = self._current()
        request.complete = True
        self.reading = None
        if request.upstream is not None:
            if request.framing is Framing.CHUNKED:
                request.upstream.write(LAST_CHUNK)
            cycle = self.cycle
            if cycle is not None and request is cycle.request and cycle.response is None:
                cycle.await_response()

    # --- the queue ------------------------------------------------------------------------

    def _begin(self, request: Request) -> None:
        self._cancel_timer()
        self.cycle = RequestCycle(self, request)
        self.cycle.start()

    def finished(self, keep: bool) -> None:
        """The exchange at the head of the queue is answered; go on to the next."""
        request = self.pending.popleft() if self.pending else None
        self.cycle = None
        if request is None or not keep or not request.complete or self.closed:
            self.close()
            return
        if self.pending:
            self._begin(self.pending[0])
        else:
            self._set_timer(self.router.keep_alive_s)
        self.resume_reading()

    def _raw_from_client(self, data: bytes) -> None:
        request = self.pending[0] if self.pending else None
        if request is None:
            return
        if request.upstream is not None:
            request.upstream.write(data)
            if self.cycle is not None:
                self.cycle.touch()  # a tunnel's client spoke: not idle
        else:
            request.body.append(data)

    def _bad_request(self, exc: Exception) -> None:
        if not self.pending:
            detail = "The request is not valid HTTP/1.1."
            self.write(page_response(400, "Bad request", detail, keep_alive=False))
        self.close()

    def _count_head(self, request: Request, size: int) -> None:
        request.head_bytes += size
        if request.head_bytes > MAX_HEAD_BYTES:
            self.write(page_response(431, "Request head too large",
                                     "The request line and headers exceed 64 KiB.", False))
            self.close()
            raise httptools.HttpParserError("head too large")  # stop the parser here

    def _current(self) -> Request:
        if self.reading is None:  # a callback without a message: llhttp never does this
            self.reading = Request()
        return self.reading

    def _upstream(self) -> UpstreamConnection | None:
        return self.pending[0].upstream if self.pending else None

    # --- the write side, reading, closing (also the cycle's) ----------------------------

    def queue(self, data: bytes) -> None:
        self.out.append(data)

    def flush(self) -> None:
        """Write what the app's last read produced, in one send (head and body together)."""
        if self.out:
            data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
            self.out = []
            if not self.closed and self.transport is not None:
                self.transport.write(data)

    def write(self, data: bytes) -> None:
        self.flush()
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.closed and self.transport is not None and not (
                len(self.pending) > 1):
            self.transport.resume_reading()

    def close(self) -> None:
        if self.cycle is not None:
            self.cycle.abort_answer()
        self.flush()
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def close_if_idle(self) -> None:
        if not self.pending:
            self.close()
        elif self.cycle is not None:
            self.cycle.keep = False  # close once the exchange under way is answered

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- the idle and head timer ------------------------------------------------------------

    def _set_timer(self, delay: float) -> None:
        self._cancel_timer()
        self.timer = self.loop.call_later(delay, self._timed_out)

    def _timed_out(self) -> None:
        self.timer = None
        if not self.pending:
            self.close()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _origin_form(target: bytes, method: bytes) -> bool:
    """A path, or `*` for OPTIONS: the only targets a reverse proxy is sent."""
    return target.startswith(b"/") or (target == b"*" and method == b"OPTIONS")

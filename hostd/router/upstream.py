"""The router's connections to apps: one asyncio protocol per TCP connection, and a pool.

A connection carries one exchange at a time. It parses the app's response with httptools
and hands the head, the body pieces and the end to its `Sink` (the client's side of the
proxy, `hostd.router.proxy`) as they arrive, so nothing is buffered whole. After a complete
response that allows it, the connection goes back to the pool for the next request to
the same port; an app that closes every connection (busybox httpd) simply gets a new one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Protocol, cast

import httptools

from hostd.router.http11 import Headers

CONNECT_TIMEOUT_S = 5.0
IDLE_KEEP_S = 30.0  # an idle connection older than this is closed rather than reused
MAX_IDLE_PER_PORT = 64


class Sink(Protocol):
    """What a connection reports to, for the exchange it carries."""

    def on_response_head(self, status: int, reason: bytes, headers: Headers) -> None: ...
    def on_response_body(self, data: bytes) -> None: ...
    def on_response_end(self) -> None: ...
    def on_upgraded(self, rest: bytes) -> None: ...
    def on_upstream_lost(self) -> None: ...
    def flush(self) -> None: ...
    def pause_client(self) -> None: ...
    def resume_client(self) -> None: ...


class BadResponse(Exception):
    """The app's bytes are not an HTTP response."""


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, pool: UpstreamPool, port: int) -> None:
        self.pool, self.port = pool, port
        self.transport: asyncio.Transport | None = None
        self.sink: Sink | None = None
        self.reused = False
        self.responded = False  # a byte of the current response has arrived
        self.tunnel = False
        self.closed = False
        self.in_use = False  # carrying an exchange or a tunnel (see UpstreamPool.in_flight)
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._reason = b""
        self._headers: Headers = []
        self._skip_body = False

    # --- driven by the client's side -----------------------------------------------------

    def start(self, sink: Sink, head: bytes, skip_body: bool) -> None:
        """Send a request head; the response goes to `sink`. `skip_body`: a HEAD request."""
        self.sink, self.responded, self._skip_body = sink, False, skip_body
        self._parser = httptools.HttpResponseParser(self)
        self._headers = []
        assert self.transport is not None
        self.transport.write(head)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def abort(self) -> None:
        self.sink = None
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close after what was written has gone (the end of a tunnel)."""
        self.sink = None
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's isn't a subclass

    def data_received(self, data: bytes) -> None:
        self.responded = True
        sink = self.sink  # the parser's callbacks may hand the connection back meanwhile
        if sink is None or self._parser is None:
            self.abort()  # bytes nobody asked for: the connection can't be trusted
            return
        if self.tunnel:
            sink.on_response_body(data)
        else:
            self._parse(sink, data)
        sink.flush()

    def _parse(self, sink: Sink, data: bytes) -> None:
        assert self._parser is not None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.tunnel = True
            sink.on_upgraded(data[upgrade.args[0]:])
        except httptools.HttpParserError:
            self.abort()
            sink.on_upstream_lost()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.on_upstream_lost()
            sink.flush()

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.pause_client()

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.resume_client()

    # --- httptools callbacks --------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self._reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if status < 200 and status != 101:
            self._headers = []  # an interim answer (100 Continue): the router sent its own
            return
        if self.sink is not None:
            self.sink.on_response_head(status, self._reason, self._headers)
        if self._skip_body and status != 101:
            # A HEAD response has no body, but the parser can't be told so: finish here
            # and don't reuse the connection (its parser would wait for a body).
            self._finish(reusable=False)

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink.on_response_body(body)

    def on_message_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if status < 200:
            return  # an interim answer; the real one follows on the same connection
        if not self._skip_body:
            self._finish(reusable=self._parser.should_keep_alive())

    def _finish(self, reusable: bool) -> None:
        sink, self.sink, self._parser = self.sink, None, None
        if reusable and not self.closed:
            self.pool.release(self)
        else:
            self.close()
        if sink is not None:
            sink.on_response_end()


class UpstreamPool:
    """Idle keep-alive connections per app port, newest first; new ones on demand.

    It also knows how many exchanges and tunnels each port carries right now: a container
    being replaced is removed once that reaches 0 (hostd.router.drain).
    """

    def __init__(self) -> None:
        self._idle: dict[int, deque[UpstreamConnection]] = {}
        self._in_flight: dict[int, int] = {}

    def in_flight(self, port: int) -> int:
        return self._in_flight.get(port, 0)

    async def acquire(self, port: int) -> UpstreamConnection:
        """An idle connection to 127.0.0.1:`port`, or a new one (OSError if refused)."""
        # Counted before any await: once a route is picked, the exchange is in flight.
        self._in_flight[port] = self._in_flight.get(port, 0) + 1
        try:
            conn = self._idle_connection(port) or await self.connect(port)
        except BaseException:
            self._done(port)
            raise
        conn.in_use = True
        return conn

    def _idle_connection(self, port: int) -> UpstreamConnection | None:
        idle = self._idle.get(port)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_KEEP_S:
                conn.reused = True
                return conn
            conn.close()
        return None

    async def connect(self, port: int) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            _, conn = await loop.create_connection(lambda: UpstreamConnection(self, port),
                                                   "127.0.0.1", port)
        return conn

    def _done(self, port: int) -> None:
        left = self._in_flight.get(port, 0) - 1
        if left > 0:
            self._in_flight[port] = left
        else:
            self._in_flight.pop(port, None)

    def _finished(self, conn: UpstreamConnection) -> None:
        if conn.in_use:
            conn.in_use = False
            self._done(conn.port)

    def release(self, conn: UpstreamConnection) -> None:
        self._finished(conn)
        idle = self._idle.setdefault(conn.port, deque())
        if len(idle) >= MAX_IDLE_PER_PORT:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        """`conn` is closed (connection_lost)."""
        self._finished(conn)
        idle = self._idle.get(conn.port)
        if idle and conn in idle:
            idle.remove(conn)

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

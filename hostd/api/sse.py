"""Server-sent events: the wire format, and a response that stops the moment its client
goes, or its token does.

`EventStreamResponse` reads the client side while it streams, so a disconnect cancels
the event generator at once (its `finally` releases the hub subscription) instead of
at the next write, which on a quiet stream could be a keep-alive interval away. Given
a watch (hostd.api.tokenwatch), it also ends the stream once the watch says the token
was revoked or has expired, with `end {reason, error, statusCode}`: the error the next
request with that token would get, so a client can tell it from a stream that is done.
However the response ends, it gives back its stream slot (hostd.control.streams).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, Protocol

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from hostd.control.streams import Lease
from hostd.errors import HostdError

KEEPALIVE = b": keep-alive\n\n"
# How the OpenAPI document describes one event of a stream (data is JSON text).
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "event": {"type": "string"},
                   "data": {"type": "string"}, "retry": {"type": "integer"}},
}
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": EVENT_SCHEMA}}},
}


def encode(event_id: int | None, name: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {payload}\n\n".encode()


class StreamWatch(Protocol):
    async def ended(self) -> HostdError:
        """Return, with why, when the stream must end."""
        ...


class EventStreamResponse(StreamingResponse):
    """Three plain asyncio tasks (the chunks, the client's side, the watch) and the first
    to finish decides; anyio's task groups and cancel scopes cost more than the rest of a
    connect together (a cancel formats every task's repr)."""

    media_type = "text/event-stream"

    def __init__(self, chunks: AsyncIterator[bytes], watch: StreamWatch | None = None,
                 lease: Lease | None = None) -> None:
        super().__init__(chunks, headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
        self._chunks = chunks
        self._watch = watch
        self._lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            farewell = await self._until_first_done(send, receive)
            if farewell is None:
                return  # the client went: nothing more to send
            if farewell:
                await send({"type": "http.response.body", "body": farewell, "more_body": True})
            # The slot comes back before the last byte goes: a client that opens its next
            # stream the moment this one ends must find it free.
            self._release()
            await send({"type": "http.response.body", "body": b""})
        finally:
            self._release()

    async def _until_first_done(self, send: Send, receive: Receive) -> bytes | None:
        """Stream until the chunks run out (b""), the watch ends the stream (its `end`
        event) or the client goes (None). The others are cancelled and awaited first, so
        the chunks' generator has closed (its subscription released) on return."""
        pump = asyncio.ensure_future(self._pump(send))
        gone = asyncio.ensure_future(_disconnected(receive))
        ended = asyncio.ensure_future(self._watch.ended()) if self._watch else None
        tasks = [task for task in (pump, gone, ended) if task is not None]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if gone.done() and not gone.cancelled():
            return None
        if ended is not None and ended.done() and not ended.cancelled():
            why = ended.result()  # raises what the watch raised
            return encode(None, "end", {"reason": why.message, "error": why.error,
                                        "statusCode": why.status_code})
        pump.result()  # raises what the chunks raised
        return b""

    async def _pump(self, send: Send) -> None:
        async with aclosing(self._chunks) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

    def _release(self) -> None:
        if self._lease is not None:
            self._lease.release()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass

"""Server-sent events: the wire format, and a response that stops the moment its client
goes, or its token does.

`EventStreamResponse` reads the client side while it streams, so a disconnect cancels
the event generator at once (its `finally` releases the hub subscription) instead of
at the next write, which on a quiet stream could be a keep-alive interval away. Given
a watch (hostd.api.tokenwatch), it also ends the stream once the watch says the token
was revoked or has expired, with `end {reason, error, statusCode}`: the error the next
request with that token would get, so a client can tell it from a stream that is done.
However the response ends, it gives back its stream slot (hostd.api.streams).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, Protocol

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from hostd.api.streams import Lease
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
            async with anyio.create_task_group() as group:
                group.start_soon(self._stream, send, group.cancel_scope)
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()
        finally:
            if self._lease is not None:
                self._lease.release()

    async def _stream(self, send: Send, whole: anyio.CancelScope) -> None:
        """The chunks until they run out, or until the watch ends them with `end`."""
        farewell: list[bytes] = []
        async with anyio.create_task_group() as inner:
            inner.start_soon(self._pump, send, inner.cancel_scope)
            if self._watch is not None:
                inner.start_soon(self._until_ended, self._watch, farewell, inner.cancel_scope)
        for chunk in farewell:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        # The slot comes back before the last byte goes: a client that opens its next
        # stream the moment this one ends must find it free.
        if self._lease is not None:
            self._lease.release()
        await send({"type": "http.response.body", "body": b""})
        whole.cancel()

    async def _pump(self, send: Send, scope: anyio.CancelScope) -> None:
        async with aclosing(self._chunks) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        scope.cancel()

    @staticmethod
    async def _until_ended(watch: StreamWatch, farewell: list[bytes],
                           scope: anyio.CancelScope) -> None:
        why = await watch.ended()
        farewell.append(encode(None, "end", {"reason": why.message, "error": why.error,
                                             "statusCode": why.status_code}))
        scope.cancel()  # the pump: its generator closes, releasing what it holds

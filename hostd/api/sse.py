"""Server-sent events: the wire format, and a response that stops the moment its client goes.

`EventStreamResponse` reads the client side while it streams, so a disconnect cancels
the event generator at once (its `finally` releases the hub subscription) instead of
at the next write, which on a quiet stream could be a keep-alive interval away. However
the response ends, it gives back its stream slot (hostd.api.streams).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from hostd.api.streams import Lease

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


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"

    def __init__(self, chunks: AsyncIterator[bytes], lease: Lease | None = None) -> None:
        super().__init__(chunks, headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
        self._chunks = chunks
        self._lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            async with anyio.create_task_group() as group:
                group.start_soon(self._pump, send, group.cancel_scope)
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()
        finally:
            if self._lease is not None:
                self._lease.release()

    async def _pump(self, send: Send, scope: anyio.CancelScope) -> None:
        async with aclosing(self._chunks) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        scope.cancel()

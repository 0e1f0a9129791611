"""`EventStreamResponse` (hostd.api.sse) on a real event loop with an ASGI client's two
callables: however a stream ends (the client goes, the watch ends it, the chunks run out,
the daemon shuts down), its generator is closed, its slot given back, and nothing is sent
after the client went."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hostd.api.sse import EventStreamResponse
from hostd.control.streams import StreamSlots
from hostd.errors import HostdError, Unauthorized


class Client:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.leave = asyncio.Event()
        self.first = True

    async def receive(self) -> dict[str, Any]:
        if self.first:
            self.first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        assert not self.leave.is_set(), "sent after the client went"
        self.sent.append(message)

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


class Chunks:
    def __init__(self, chunks: list[bytes], forever: bool) -> None:
        self.chunks, self.forever, self.closed = chunks, forever, False

    async def __call__(self) -> AsyncIterator[bytes]:
        try:
            for chunk in self.chunks:
                yield chunk
            while self.forever:
                await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # a generator's cleanup may await (a thread, say)
            self.closed = True


class Watch:
    def __init__(self, after_s: float | None) -> None:
        self.after_s = after_s

    async def ended(self) -> HostdError:
        await asyncio.sleep(self.after_s if self.after_s is not None else 3600)
        return Unauthorized("The token has been revoked: log in again")


def stream(chunks: Chunks, watch: Watch) -> tuple[EventStreamResponse, StreamSlots]:
    slots = StreamSlots(1)
    lease = slots.acquire("u")
    return EventStreamResponse(chunks(), watch=watch, lease=lease), slots


def scope() -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/", "headers": []}


def test_a_client_that_goes_closes_the_stream_at_once() -> None:
    chunks, client = Chunks([b"a"], forever=True), None

    async def scenario() -> StreamSlots:
        nonlocal client
        client = Client()
        response, slots = stream(chunks, Watch(None))
        running = asyncio.ensure_future(response(scope(), client.receive, client.send))
        await asyncio.sleep(0.05)
        client.leave.set()
        await asyncio.wait_for(running, 5)
        return slots

    slots = asyncio.run(scenario())
    assert client is not None and client.bodies() == [b"a"]
    assert chunks.closed
    slots.acquire("u")  # the slot is free again


def test_the_watch_ends_the_stream_with_end_then_closes_it() -> None:
    chunks, client = Chunks([b"a"], forever=True), Client()

    async def scenario() -> None:
        response, _ = stream(chunks, Watch(0.05))
        await asyncio.wait_for(response(scope(), client.receive, client.send), 5)

    asyncio.run(scenario())
    bodies = client.bodies()
    assert bodies[0] == b"a" and bodies[-1] == b""
    assert bodies[1].startswith(b"event: end\n") and b'"statusCode":401' in bodies[1]
    assert chunks.closed


def test_chunks_that_run_out_end_the_response() -> None:
    chunks, client = Chunks([b"a", b"b"], forever=False), Client()

    async def scenario() -> StreamSlots:
        response, slots = stream(chunks, Watch(None))
        await asyncio.wait_for(response(scope(), client.receive, client.send), 5)
        return slots

    slots = asyncio.run(scenario())
    assert client.bodies() == [b"a", b"b", b""]
    assert chunks.closed
    slots.acquire("u")


def test_a_shutdown_cancels_the_stream_and_still_closes_it() -> None:
    chunks, client = Chunks([b"a"], forever=True), Client()

    async def scenario() -> None:
        response, _ = stream(chunks, Watch(None))
        running = asyncio.ensure_future(response(scope(), client.receive, client.send))
        await asyncio.sleep(0.05)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(scenario())
    assert chunks.closed

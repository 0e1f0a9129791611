"""`GET /api/containers/events`: the caller's live event stream (SSE).

`connected {userId}` first; then `metrics_updated {projectId, metrics}` for each of the
caller's running projects every metrics interval, and `status_changed {projectId,
status, status_reason, desired_status, restarts, last_exit}` the moment a status changes.
Only the caller's projects, ever. At most HOSTD_MAX_STREAMS_PER_USER streams of one user
(these and followed logs together) are open at once; one more is a 429.
A `: keep-alive` comment is sent whenever the stream has been quiet for
HOSTD_SSE_KEEPALIVE seconds (15).

Ids increase strictly, across daemon restarts too. With `Last-Event-ID`, the
`status_changed` events the client missed (of the last few hundred kept) are sent
after `connected`; metrics are not replayed, the next sample replaces them. A client
should still reload its project list on `connected`, as `hostctl top` does.

Browsers' EventSource cannot send headers, so this route (and only this one) also takes
a Bearer token as `?access_token=`; the access log never records query strings. The
dashboard reads the stream with fetch instead: its session cookie and CSRF header, as on
every request (hostd.api.session); a session's token is never taken in the URL.

The stream ends with its token: within a second or two of a logout, logout-all or
password change that revokes it, or when it expires, `end {reason, error, statusCode}`
is sent (the 401 the next request would get) and the stream closes (hostd.api.tokenwatch).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import authenticated, services_of
from hostd.api.sse import KEEPALIVE, STREAM_RESPONSES, EventStreamResponse, encode
from hostd.api.tokenwatch import TokenWatch
from hostd.events import CONNECTED, EventHub
from hostd.services import Services

router = APIRouter(route_class=BodyTypedRoute)


@dataclass(frozen=True)
class StreamCaller:
    watch: TokenWatch
    services: Services


async def stream_caller(request: Request) -> StreamCaller:
    """The caller's token, by Bearer header, `access_token` or session cookie (with its
    CSRF header), checked as every request's is (the token cache, else the database in a
    thread); the stream's watch then starts from that check instead of looking again. One
    dependency: a connect should cost what a read does."""
    services = services_of(request)
    found = await authenticated(request, request.query_params.get("access_token"))
    cache = services.token_cache
    seen = cache.changes(found.claims.user_id)
    # Still cached after `seen` was read: no revocation of it came between (one drops it).
    fresh = cache.get(found.token) is not None
    watch = TokenWatch(found.claims, services.db, cache, seen=seen if fresh else None)
    return StreamCaller(watch, services)


def _last_id(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


async def event_stream(hub: EventHub, user_id: str, last_id: int | None,
                       keepalive_s: float) -> AsyncIterator[bytes]:
    async with hub.subscribe(user_id) as sub:  # before `connected`: nothing falls between
        yield encode(hub.next_id(), CONNECTED, {"userId": user_id})
        missed = hub.missed(user_id, last_id) if last_id is not None else []
        for event in missed:
            yield encode(event.id, event.name, event.data)
        # An event delivered while `connected` was being sent is in both; send it once.
        replayed = {event.id for event in missed}
        while True:
            try:
                async with asyncio.timeout(keepalive_s):  # wait_for would start a task
                    event = await sub.queue.get()
            except TimeoutError:
                yield KEEPALIVE
                continue
            if event.id not in replayed:
                yield encode(event.id, event.name, event.data)


@router.get("/events", response_class=EventStreamResponse, status_code=200,
            responses=STREAM_RESPONSES)
async def events(
    caller: Annotated[StreamCaller, Depends(stream_caller)],
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventStreamResponse:
    services, user_id = caller.services, caller.watch.user_id
    lease = services.streams.acquire(user_id)  # 429 past the cap; the response gives it back
    chunks = event_stream(services.hub, user_id, _last_id(last_event_id),
                          services.settings.sse_keepalive_s)
    return EventStreamResponse(chunks, watch=caller.watch, lease=lease)

"""The event hub: one publisher, any number of subscribers, each with a bounded queue.

Producers may be worker threads (deploys, the engine monitor) or the event loop (the
metrics collector); `publish` is safe from either. A subscriber that falls behind loses
its oldest events, never slows the others, and is gone the moment it unsubscribes.

Event ids increase strictly, also across daemon restarts: the counter starts at the
start time in microseconds, so a client's `Last-Event-ID` from before a restart is
lower than every new id. The hub keeps the last few STATUS_CHANGED events (not
metrics: the next sample replaces a missed one within an interval) and replays those
newer than a reconnecting client's `Last-Event-ID`.

In-process listeners (the router's route table, the collector) see every event of
every user on the event loop; they must be quick and must not raise.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

# The event names, as the stream sends them (the API contract: never renamed).
CONNECTED = "connected"  # first on every stream: `{userId}`
STATUS_CHANGED = "status_changed"  # `{projectId, status, status_reason}`
METRICS_UPDATED = "metrics_updated"  # `{projectId, metrics}`
CRON_RUN = "cron_run"  # `{projectId, run}`: a scheduled job's run ended (or was skipped)

DEFAULT_QUEUE_SIZE = 256
REPLAYED_NAMES = frozenset({STATUS_CHANGED})
REPLAY_BUFFER = 512

log = logging.getLogger("hostd.hub")
Listener = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    id: int
    name: str
    user_id: str
    data: dict[str, Any]


@dataclass(eq=False)
class Subscription:
    user_id: str
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(DEFAULT_QUEUE_SIZE))
    dropped: int = 0

    def offer(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # the oldest goes; the newest is what matters
            self.dropped += 1
        self.queue.put_nowait(event)


class EventHub:
    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}
        self._listeners: list[Listener] = []
        self._recent: deque[Event] = deque(maxlen=REPLAY_BUFFER)
        self._ids = itertools.count(time.time_ns() // 1000)
        self._id_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called once the event loop runs (app start-up)."""
        self._loop = loop

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    def next_id(self) -> int:
        """An id in the same sequence as the events' (for the stream's `connected`)."""
        with self._id_lock:
            return next(self._ids)

    def listen(self, listener: Listener) -> None:
        """Call `listener(event)` on the event loop for every event of every user."""
        self._listeners.append(listener)

    def publish(self, user_id: str, name: str, data: dict[str, Any]) -> None:
        """Send `name` to every subscriber of `user_id`; safe from any thread."""
        event = Event(self.next_id(), name, user_id, data)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(event)
        else:
            loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: Event) -> None:
        if event.name in REPLAYED_NAMES:
            self._recent.append(event)
        for sub in self._subs.get(event.user_id, ()):
            sub.offer(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", event.name)

    def missed(self, user_id: str, after_id: int) -> list[Event]:
        """Kept events of `user_id` newer than `after_id`, oldest first."""
        return [e for e in self._recent if e.user_id == user_id and e.id > after_id]

    @asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[Subscription]:
        sub = Subscription(user_id)
        self._subs.setdefault(user_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subs.get(user_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[user_id]

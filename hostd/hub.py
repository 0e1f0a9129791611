"""The event hub: one publisher, any number of subscribers, each with a bounded queue.

Producers may be worker threads (deploys, the engine monitor) or the event loop (the
metrics collector); `publish` is safe from either. A subscriber that falls behind loses
its oldest events, never slows the others, and is gone the moment it unsubscribes.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

DEFAULT_QUEUE_SIZE = 256


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
        self._subs: set[Subscription] = set()
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called once the event loop runs (app start-up)."""
        self._loop = loop

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def publish(self, user_id: str, name: str, data: dict[str, Any]) -> None:
        """Send `name` to every subscriber of `user_id`; safe from any thread."""
        with self._id_lock:
            event = Event(next(self._ids), name, user_id, data)
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
        for sub in self._subs:
            if sub.user_id == event.user_id:
                sub.offer(event)

    @asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[Subscription]:
        sub = Subscription(user_id)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

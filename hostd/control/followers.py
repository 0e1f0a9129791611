"""The threads that read followed container logs (`logs?follow=true`): a pool of their
own, bounded, so log streams can neither exhaust the event loop's default executor (the
one DNS lookups and other awaits use) nor grow without end. A follow past the bound is
refused with 429 at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from hostd.control.runtime import LogFollower, LogLine
from hostd.errors import RateLimited

T = TypeVar("T")
QUEUED_LINES = 1000


class LogFollowers:
    def __init__(self, threads: int) -> None:
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None  # threads start at first use
        self._lock = threading.Lock()
        self._active = 0

    def check(self) -> None:
        """RateLimited when every thread follows a log already (before a stream starts)."""
        with self._lock:
            if self._active >= self._threads:
                raise self._full()

    def _full(self) -> RateLimited:
        return RateLimited(f"hostd is following {self._active} container logs, its most "
                           "(HOSTD_LOG_FOLLOWERS): try again shortly", retry_after=5)

    def start(self, pump: Callable[[], T]) -> Future[T]:
        """Run `pump` (it reads one container's log to its end) on the pool."""
        with self._lock:
            if self._active >= self._threads:
                raise self._full()
            self._active += 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="log-follow")
            pool = self._pool
        future = pool.submit(pump)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self._active -= 1

    async def lines(self, stream: LogFollower) -> AsyncIterator[LogLine]:
        """`stream`'s lines as they come, read on the pool (Docker's log stream blocks),
        handed over a bounded queue: a reader that falls behind loses the oldest lines.
        RateLimited before the first line when every thread is taken. The stream is
        closed however this ends (which unblocks the reading thread)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[LogLine | None] = asyncio.Queue(maxsize=QUEUED_LINES)

        def offer(line: LogLine | None) -> None:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(line)

        def pump() -> None:
            try:
                for line in stream.lines():
                    loop.call_soon_threadsafe(offer, line)
            finally:
                loop.call_soon_threadsafe(offer, None)

        try:
            reader = asyncio.wrap_future(self.start(pump))
        except BaseException:
            stream.close()
            raise
        try:
            while (line := await queue.get()) is not None:
                yield line
        finally:
            stream.close()
            reader.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

"""Draining a replaced container: wait, from a worker thread, until no request or tunnel
the router sent it is still open.

The router (in the daemon or as worker processes) registers how to count what is open
to an app port; the control layer, which replaces containers on threads, asks here. It
imports nothing heavy: the control layer uses it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("hostd.router")
POLL_S = 0.1
ASK_TIMEOUT_S = 3.0

Counter = Callable[[int], Awaitable[int]]


class DrainGate:
    def __init__(self) -> None:
        self._counter: Counter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def register(self, counter: Counter | None) -> None:
        """The router's count, on the calling (event loop) thread; None when it stops."""
        self._counter = counter
        self._loop = asyncio.get_running_loop() if counter is not None else None

    def in_flight(self, port: int) -> int:
        """Open exchanges and tunnels to `port` (0 when no router runs). Thread only."""
        counter, loop = self._counter, self._loop
        if counter is None or loop is None or loop.is_closed():
            return 0

        async def ask() -> int:
            return await counter(port)

        future = asyncio.run_coroutine_threadsafe(ask(), loop)
        try:
            return future.result(ASK_TIMEOUT_S)
        except (concurrent.futures.TimeoutError, RuntimeError):
            future.cancel()
            return 1  # unknown: keep waiting, up to the caller's timeout

    def wait(self, port: int, *, at_least_s: float, timeout_s: float) -> int:
        """Block until nothing is open to `port` (and `at_least_s` has passed: a request
        may be between the route table and the pool) or `timeout_s`; what is still open."""
        start = time.monotonic()
        while True:
            open_now = self.in_flight(port)
            waited = time.monotonic() - start
            if (open_now == 0 and waited >= at_least_s) or waited >= timeout_s:
                return open_now
            time.sleep(POLL_S)

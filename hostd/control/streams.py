"""Open streams per user: `GET /api/containers/events`, followed logs and one-off runs.

Each stream holds a `Lease` from the moment its route admits it until its response ends,
however it ends (the client leaves, the token is revoked, the container stops, the
daemon shuts down): `EventStreamResponse` releases it in a `finally`. Past
HOSTD_MAX_STREAMS_PER_USER open streams the next is a 429 `RateLimited`.

Thread-safe: the logs route is a sync route (a worker thread), the events route runs on
the event loop.
"""

from __future__ import annotations

import threading

from hostd.errors import RateLimited

# A stream frees its slot only when one of the user's other streams ends: a few seconds
# is a guess a client can retry on, not a promise.
RETRY_AFTER_S = 5


class Lease:
    """One open stream's slot; `release` is idempotent."""

    def __init__(self, slots: StreamSlots, user_id: str) -> None:
        self._slots, self._user_id = slots, user_id
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._release(self._user_id)


class StreamSlots:
    def __init__(self, per_user: int) -> None:
        self.per_user = per_user  # 0: no limit
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, user_id: str) -> Lease:
        """A slot for one more stream of `user_id`, or RateLimited."""
        with self._lock:
            count = self._open.get(user_id, 0)
            if self.per_user and count >= self.per_user:
                raise RateLimited(
                    f"You already have {count} event, log and run streams open, the most one "
                    f"user may (HOSTD_MAX_STREAMS_PER_USER={self.per_user}): close one "
                    "first", retry_after=RETRY_AFTER_S)
            self._open[user_id] = count + 1
        return Lease(self, user_id)

    def _release(self, user_id: str) -> None:
        with self._lock:
            count = self._open.get(user_id, 0) - 1
            if count > 0:
                self._open[user_id] = count
            else:
                self._open.pop(user_id, None)

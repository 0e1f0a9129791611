"""Stops hostd causes itself: the engine monitor must not take them for crashes."""

from __future__ import annotations

import threading
import time


class ExpectedExits:
    """Containers hostd is about to stop or restart: their `die` is not a crash."""

    TTL_S = 120.0

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def expect(self, container_id: str) -> None:
        with self._lock:
            self._until[container_id] = time.monotonic() + self.TTL_S

    def consume(self, container_id: str) -> bool:
        with self._lock:
            now = time.monotonic()
            self._until = {cid: t for cid, t in self._until.items() if t > now}
            return self._until.pop(container_id, None) is not None

"""The fake engine's frame: one lock and its condition, the calls it was asked, whether
it answers, and errors queued for a method's next call."""

from __future__ import annotations

import threading

from hostd.control.runtime import EngineError, EngineUnavailable
from tests.fakes.state import UNREACHABLE

Call = tuple[str, tuple[object, ...]]


class FakeEngineBase:
    def __init__(self) -> None:
        # Reentrant: a helper that holds it may call another that takes it.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # notified on every change
        self.calls: list[Call] = []  # (method, args) of every Runtime call, in order
        self.resets = 0
        self._away = False
        self._outages = 0  # counts go_away(): an event stream ends when it moves
        self._queued: dict[str, list[EngineError]] = {}

    # --- for the control plane (the Runtime port) -----------------------------------------
    def reachable(self) -> bool:
        with self._lock:
            self.calls.append(("reachable", ()))
            return not self._away

    def reset(self) -> None:
        with self._lock:
            self.calls.append(("reset", ()))
            self.resets += 1

    # --- for tests ------------------------------------------------------------------------
    def calls_of(self, method: str) -> list[tuple[object, ...]]:
        """The arguments of every call of `method`, in order."""
        with self._lock:
            return [args for name, args in self.calls if name == method]

    def fail_next(self, method: str, error: EngineError) -> None:
        """The next call of `method` (a Runtime method's name) raises `error`."""
        with self._lock:
            self._queued.setdefault(method, []).append(error)

    # --- inside ---------------------------------------------------------------------------
    def _op(self, method: str, *args: object) -> None:
        """Record a call; raise as the engine would when it is away or a fault is queued."""
        with self._lock:
            self.calls.append((method, args))
            self._answering(method)
            queued = self._queued.get(method)
            if queued:
                raise queued.pop(0)

    def _answering(self, what: str) -> None:
        if self._away:
            raise EngineUnavailable(f"Docker engine unreachable during {what}: {UNREACHABLE}")

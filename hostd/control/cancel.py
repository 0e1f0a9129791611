"""A cancel scope for one deploy: set once, from any thread, and every hook runs.

A deploy is cancelled when its project is deleted or redeployed, or when a step passes
its deadline. The step that is blocked (a build stream, a clone) registers a hook that
unblocks it (closes its socket, kills its process); the step then sees `cancelled` and
stops with `reason`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("hostd.deploy")


class CancelScope:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: dict[int, Callable[[], None]] = {}
        self._next = 0
        self.reason: str | None = None

    @property
    def cancelled(self) -> bool:
        return self.reason is not None

    def cancel(self, reason: str) -> None:
        """Cancel with `reason` (the first reason wins) and run the hooks now."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            hooks = list(self._hooks.values())
        for hook in hooks:
            try:
                hook()
            except Exception:
                log.exception("a cancel hook failed")

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run `hook` at cancel (at once if already cancelled); returns its remover."""
        with self._lock:
            if self.reason is None:
                key = self._next
                self._next += 1
                self._hooks[key] = hook
                return lambda: self._hooks.pop(key, None) and None
        hook()
        return lambda: None

"""Retiring a replaced container: it drains, then goes.

Once the router's table points at the new container (every worker has taken the status
event in; hostd.router.drain asks them), the old one gets no new requests. The ones it
is still carrying, and WebSocket or SSE tunnels through it, get up to
HOSTD_DRAIN_TIMEOUT to finish; then it is stopped and removed. On a thread: the change
that replaced it is over already, the caller does not wait for the drain.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from hostd.config import Settings
from hostd.control.exits import ExpectedExits
from hostd.control.runtime import EngineError, Runtime
from hostd.router.drain import DrainGate

log = logging.getLogger("hostd.replace")


class Retirer:
    def __init__(self, settings: Settings, runtime: Runtime, expected: ExpectedExits,
                 gate: DrainGate) -> None:
        self._settings = settings
        self._runtime = runtime
        self._expected = expected
        self.expected = expected  # stops hostd causes (hostd.control.formation's too)
        self.gate = gate

    def retire(self, container_id: str, port: int | None,
               say: Callable[[str], None] | None = None) -> threading.Thread:
        """Drain `container_id` (served on 127.0.0.1:`port`) and remove it, on a thread.

        Call it after the status change that switched the route: the first count is
        answered only once every router worker has taken that change in, so when this
        returns no new request goes to the old container."""
        self._expected.expect(container_id)  # its exit is hostd's doing, not a crash
        if port is not None:
            self.gate.in_flight(port)
        thread = threading.Thread(target=self._drain_and_remove, args=(container_id, port, say),
                                  name="retire-container", daemon=True)
        thread.start()
        return thread

    def _drain_and_remove(self, container_id: str, port: int | None,
                          say: Callable[[str], None] | None) -> None:
        settings = self._settings
        left = 0
        if port is not None:
            left = self.gate.wait(port, at_least_s=settings.drain_s,
                                  timeout_s=max(settings.drain_timeout_s, settings.drain_s))
        note = (f"; {left} connection(s) still open after {settings.drain_timeout_s:g}s "
                "were closed" if left else "")
        try:
            self._runtime.remove(container_id)
        except EngineError as exc:  # the reconciler removes it later
            log.warning("could not remove the replaced container %s: %s", container_id, exc)
            return
        log.info("retired container %s%s", container_id[:12], note)
        if say is not None:
            with contextlib.suppress(OSError):  # the project (and its log) may be gone
                say(f"the previous container drained and was removed{note}")

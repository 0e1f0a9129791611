"""Which of a project's `web` replicas gets the next request: least outstanding requests.

Per router process (each worker balances on its own counts): the load of an upstream is
what the upstream pool has open to its port right now, exchanges and tunnels
(`UpstreamPool.in_flight`), so a slow or busy replica, whose requests stay open longer,
gets fewer new ones. Ties go round robin, per project, so an idle project's requests
still spread.

An upstream that fails a connect is taken out at once for `cooldown_s`: the requests
after it go to the others. When every upstream of a route is cooling down, they are
tried anyway (a project with one replica behaves as it did with one container: each
request tries it). Only the route's upstreams are ever chosen: a replica the control
plane retired is no longer in it, and gets no new requests, while the ones it carries
finish (they hold their connections; see hostd.router.drain).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence

COOLDOWN_S = 2.0
MAX_COOLING = 1024  # ports remembered as cooling down; past this, the expired are dropped


class Balancer:
    def __init__(self, load: Callable[[int], int], cooldown_s: float = COOLDOWN_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._next: dict[str, int] = {}  # project id → where its round robin starts
        self._cooling: dict[int, float] = {}  # port → when it may be chosen again

    def choose(self, key: str, ports: Sequence[int],
               tried: Collection[int] = ()) -> int | None:
        """The port of `ports` for the next request of `key` (a project), not one of
        `tried`; None when every one was tried."""
        if len(ports) == 1 and not tried:
            return ports[0]  # one replica (most projects): nothing to choose
        candidates = [p for p in ports if p not in tried]
        if not candidates:
            return None
        if len(candidates) > 1 and self._cooling:
            now = self._clock()
            ready = [p for p in candidates if self._cooling.get(p, 0.0) <= now]
            candidates = ready or candidates
        start = self._next.get(key, 0) % len(candidates)
        best, best_load = start, self._load(candidates[start])
        for step in range(1, len(candidates)):
            index = (start + step) % len(candidates)
            load = self._load(candidates[index])
            if load < best_load:
                best, best_load = index, load
        self._next[key] = best + 1
        return candidates[best]

    def failed(self, port: int) -> None:
        """A connect to `port` failed: no new request goes there for a while."""
        now = self._clock()
        if len(self._cooling) >= MAX_COOLING:
            self._cooling = {p: t for p, t in self._cooling.items() if t > now}
        self._cooling[port] = now + self._cooldown_s

    def succeeded(self, port: int) -> None:
        """A connect to `port` worked: it is back at once."""
        if self._cooling:
            self._cooling.pop(port, None)

    def cooling(self, port: int) -> bool:
        return self._cooling.get(port, 0.0) > self._clock()

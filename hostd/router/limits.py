"""Caps per project in the router: exchanges in progress, WebSocket (upgrade) tunnels,
and how long a tunnel may stay silent.

One project's flood (or a page that opens hundreds of WebSockets) must not take every
file descriptor and every slot of the event loop a router worker has for all the others.
Counts are kept per worker process, on its event loop (no lock, two dict operations a
request): with HOSTD_ROUTER_WORKERS workers a project may hold up to that many times the
cap in all. Past a cap the router answers 503 with its own page.

An exchange is counted from the moment the router decides to pass a request to the app
until it is answered or its client leaves; it holds one connection to the app. A tunnel
is an exchange that asked for an upgrade, counted against both caps, until it ends.
Imports nothing heavy: the worker processes load it.
"""

from __future__ import annotations

import json

CONNECTIONS_PER_PROJECT = 256
TUNNELS_PER_PROJECT = 64
TUNNEL_IDLE_S = 300.0
LIMITS_ENV = "HOSTD_ROUTER_LIMITS"  # how the daemon hands them to its workers


class ProjectLimits:
    __slots__ = ("connections", "tunnels", "tunnel_idle_s", "_open", "_tunnels")

    def __init__(self, connections: int = CONNECTIONS_PER_PROJECT,
                 tunnels: int = TUNNELS_PER_PROJECT,
                 tunnel_idle_s: float = TUNNEL_IDLE_S) -> None:
        self.connections = connections
        self.tunnels = tunnels
        self.tunnel_idle_s = tunnel_idle_s
        self._open: dict[str, int] = {}
        self._tunnels: dict[str, int] = {}

    def admit(self, project_id: str, tunnel: bool) -> str | None:
        """Count one more exchange (a tunnel if `tunnel`) of the project, or say why not."""
        open_now = self._open.get(project_id, 0)
        if open_now >= self.connections:
            return f"it already has {open_now} connections through the router"
        if tunnel:
            tunnels = self._tunnels.get(project_id, 0)
            if tunnels >= self.tunnels:
                return f"it already has {tunnels} WebSocket connections through the router"
            self._tunnels[project_id] = tunnels + 1
        self._open[project_id] = open_now + 1
        return None

    def release(self, project_id: str, tunnel: bool) -> None:
        _decrement(self._open, project_id)
        if tunnel:
            _decrement(self._tunnels, project_id)

    def open(self, project_id: str) -> tuple[int, int]:
        """(exchanges, tunnels) of the project in progress now."""
        return self._open.get(project_id, 0), self._tunnels.get(project_id, 0)

    def encode(self) -> str:
        return json.dumps([self.connections, self.tunnels, self.tunnel_idle_s])

    @classmethod
    def decode(cls, text: str | None) -> ProjectLimits:
        if not text:
            return cls()
        connections, tunnels, idle = json.loads(text)
        return cls(int(connections), int(tunnels), float(idle))


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)  # a project with nothing open costs no memory

"""One lazily connected Docker client for the daemon, that reconnects after an outage.

The daemon starts even when no engine answers: `/healthz` says so, container routes
answer 503, and the next call after the engine comes back connects again.
"""

from __future__ import annotations

import threading

import docker

from hostd.engine.client import EngineUnavailable, connect, ping


class DockerHandle:
    def __init__(self, base_url: str | None = None, timeout: float = 60) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    def client(self) -> docker.DockerClient:
        """The connected client; raises EngineUnavailable when the engine does not answer."""
        with self._lock:
            if self._client is None:
                self._client = connect(self._base_url, self._timeout)
            return self._client

    def reset(self) -> None:
        """Forget the client so the next call reconnects (after an outage)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None

    def reachable(self) -> bool:
        try:
            client = self.client()
        except EngineUnavailable:
            return False
        if ping(client):
            return True
        self.reset()
        return False

    def close(self) -> None:
        self.reset()

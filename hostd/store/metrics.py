"""The latest measured metrics per project, kept in memory (hostd.control.metrics
measures them; the project routes read them)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from hostd.store.models import Metrics


class MetricsStore:
    """Latest measured metrics per project; a project with no sample reads as zeros."""

    def __init__(self) -> None:
        self._latest: dict[str, Metrics] = {}
        self._lock = threading.Lock()

    def get(self, project_id: str) -> Metrics:
        return self.latest(project_id) or Metrics()

    def latest(self, project_id: str) -> Metrics | None:
        """The sample stored last (the same object until the next), or None."""
        with self._lock:
            return self._latest.get(project_id)

    def put(self, project_id: str, metrics: Metrics) -> None:
        with self._lock:
            self._latest[project_id] = metrics

    def forget(self, project_id: str) -> None:
        with self._lock:
            self._latest.pop(project_id, None)

    def retain(self, project_ids: Iterable[str]) -> None:
        """Keep only these projects' values (the others are no longer running)."""
        keep = set(project_ids)
        with self._lock:
            self._latest = {k: v for k, v in self._latest.items() if k in keep}

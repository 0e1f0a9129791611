"""Latest measured metrics per project.

The collector (router + engine sampling) writes here; the API reads. A project with
no sample yet reads as zeros, which is the truth for one that isn't running.
"""

from __future__ import annotations

import threading

from hostd.models import Metrics


class MetricsStore:
    def __init__(self) -> None:
        self._latest: dict[str, Metrics] = {}
        self._lock = threading.Lock()

    def get(self, project_id: str) -> Metrics:
        with self._lock:
            return self._latest.get(project_id) or Metrics()

    def put(self, project_id: str, metrics: Metrics) -> None:
        with self._lock:
            self._latest[project_id] = metrics

    def forget(self, project_id: str) -> None:
        with self._lock:
            self._latest.pop(project_id, None)

"""The router's request counts: per project, per release.

A project's `requests` count from the moment its current release went live: a restart, a
crash restart or a zero-downtime replacement within the release keeps counting; a new
release (a deploy, a config change, a rollback) starts again from 0. A project with no
release yet counts per container start (a start always gets a new host port). Its own module,
importing nothing heavy: router worker processes use it, and they must not load the
docker SDK or the metrics collector (see tests/router/test_worker_imports.py).
"""

from __future__ import annotations


def incarnation(container_id: str | None, host_port: int | None) -> str:
    """One start of one container: the engine picks a new host port on every start."""
    return f"{container_id}:{host_port}"


def counted_since(release: int | None, container_id: str | None, host_port: int | None) -> str:
    """What a project's requests count from: its release, else its container's start."""
    return f"v{release}" if release is not None else incarnation(container_id, host_port)


class RequestCounter:
    """Requests proxied per project, since its container started. Event loop only.

    Counts are kept per start (a few per project), not just the latest: router worker
    processes report their counts late and in any order, and a late report for an old
    start must neither reset nor inflate the new one.
    """

    KEPT_STARTS = 4

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, int]] = {}

    def hit(self, project_id: str, started: str) -> None:
        self.add(project_id, started, 1)

    def add(self, project_id: str, started: str, count: int) -> None:
        starts = self._counts.setdefault(project_id, {})
        starts[started] = starts.get(started, 0) + count
        if len(starts) > self.KEPT_STARTS:
            del starts[next(iter(starts))]  # the oldest start seen

    def read(self, project_id: str, started: str) -> int:
        return self._counts.get(project_id, {}).get(started, 0)


class PendingCounts:
    """A router worker's counts since its last report to the daemon (see hostd.router.pool)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def hit(self, project_id: str, started: str) -> None:
        key = (project_id, started)
        self._counts[key] = self._counts.get(key, 0) + 1

    def restore(self, counts: list[tuple[str, str, int]]) -> None:
        """Take back drained counts that could not be reported."""
        for project_id, started, n in counts:
            key = (project_id, started)
            self._counts[key] = self._counts.get(key, 0) + n

    def drain(self) -> list[tuple[str, str, int]]:
        counts, self._counts = self._counts, {}
        return [(project_id, started, n) for (project_id, started), n in counts.items()]

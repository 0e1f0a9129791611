"""The metrics collector: measures every running project and publishes the result.

One collector loop samples every running project each `HOSTD_METRICS_INTERVAL` seconds
(4 by default), keeps the result in the MetricsStore (`hostd.store.metrics`, what
`GET /api/projects` shows)
and publishes `metrics_updated {projectId, metrics}` to the project's owner. A project
that isn't running reads as zeros.

Every replica of a project is measured (web.1, the project's container, and each
`process_replicas` row): `cpu` and `memory` are their sums, and `processes` the same by
process type (`{web: {replicas, cpu, memory}, worker: …}`).

* `cpu`: percent of one core over the last interval, Δ container CPU ns / Δ wall ns × 100
  (two cgroup readings an interval apart; 0 on a container's first sample).
* `memory`: MB, (usage − inactive_file) / 2**20, as `docker stats` shows it.
* `requests`: requests the router proxied to the project since its container started
  (counted by `hostd.router.counts`).

Readings come from cgroup files (no engine call, no thread per container); only
containers without them go through the engine's stats API, on a small pool with a
deadline shorter than the interval, so a slow or vanished container only loses its own
sample. See `hostd.engine.stats`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import anyio
from sqlalchemy import Engine
from sqlalchemy import select as core_select
from sqlmodel import col

from hostd.control.runtime import EngineError, Runtime, Usage
from hostd.events import METRICS_UPDATED, STATUS_CHANGED, Event, EventHub
from hostd.router.counts import RequestCounter, counted_since
from hostd.store.formation import WEB
from hostd.store.metrics import MetricsStore
from hostd.store.models import Metrics, Project, ProjectStatus
from hostd.store.models.processes import ProcessReplica
from hostd.store.models.projects import ProcessMetrics

log = logging.getLogger("hostd.metrics")
API_DEADLINE_SHARE = 0.6  # of the interval: the API fallback may use no more


@dataclass(frozen=True)
class RunningProject:
    id: str
    user_id: str
    container_id: str
    host_port: int | None
    release: int | None
    replicas: dict[str, str] = field(default_factory=dict)  # replica id: its process type


def running_projects(db: Engine) -> list[RunningProject]:
    """Every running project with its replicas (web.1 is its container, whatever the rows
    say)."""
    # SQLAlchemy's select: sqlmodel's is typed for up to four columns.
    query = core_select(col(Project.id), col(Project.user_id), col(Project.container_id),
                        col(Project.host_port), col(Project.release_version)).where(
        col(Project.status) == ProjectStatus.running, col(Project.container_id).is_not(None))
    rows = core_select(col(ProcessReplica.project_id), col(ProcessReplica.id),
                       col(ProcessReplica.process)).join(
        Project, col(Project.id) == col(ProcessReplica.project_id)).where(
        col(Project.status) == ProjectStatus.running)
    with db.connect() as conn:
        projects = [RunningProject(pid, user_id, container_id, port, release)
                    for pid, user_id, container_id, port, release in conn.execute(query)
                    if container_id is not None]
        by_project: dict[str, dict[str, str]] = {}
        for pid, replica_id, process in conn.execute(rows):
            by_project.setdefault(pid, {})[replica_id] = process
    for project in projects:
        project.replicas.update(by_project.get(project.id, {}))
        project.replicas[project.container_id] = WEB
    return projects


def cpu_percent(before: Usage, after: Usage) -> float:
    """Percent of one core used between two readings of the same replica."""
    wall = after.at_ns - before.at_ns
    used = after.cpu_ns - before.cpu_ns
    if wall <= 0 or used < 0:  # a counter that went back: the container restarted
        return 0.0
    return used / wall * 100


def memory_mb(reading: Usage) -> float:
    return reading.memory_bytes / 2**20


class MetricsCollector:
    """One asyncio task that samples every running project each interval; started and
    stopped by the app's lifespan. A status change drops the project's stored sample."""

    def __init__(self, db: Engine, runtime: Runtime, hub: EventHub, store: MetricsStore,
                 counter: RequestCounter, interval_s: float) -> None:
        self.db, self.runtime, self.hub = db, runtime, hub
        self.store, self.counter, self.interval_s = store, counter, interval_s
        self._previous: dict[str, Usage] = {}
        self._task: asyncio.Task[None] | None = None
        hub.listen(self._on_event)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _on_event(self, event: Event) -> None:
        # Whatever the new status, the old numbers no longer describe a running container.
        if event.name == STATUS_CHANGED:
            self.store.forget(str(event.data.get("projectId")))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.tick()
            except Exception:
                log.exception("metrics sampling failed")
            await asyncio.sleep(max(0.0, self.interval_s - (loop.time() - started)))

    async def tick(self) -> None:
        """Sample, store and publish once for every running project."""
        projects = await anyio.to_thread.run_sync(running_projects, self.db)
        readings = await self._read([rid for p in projects for rid in p.replicas])
        for project in projects:
            if project.container_id in readings:  # else not measured this tick
                self._publish(project, readings)
        current = {rid for p in projects for rid in p.replicas}
        # A container missed this tick keeps its last reading; a gone one is dropped.
        self._previous = {cid: r for cid, r in (self._previous | readings).items()
                          if cid in current}
        self.store.retain(p.id for p in projects)

    async def _read(self, container_ids: list[str]) -> dict[str, Usage]:
        return await anyio.to_thread.run_sync(self._usage, set(container_ids))

    def _usage(self, container_ids: set[str]) -> dict[str, Usage]:
        try:
            return self.runtime.usage(container_ids, self.interval_s * API_DEADLINE_SHARE)
        except EngineError:  # away: no sample this tick
            return {}

    def _publish(self, project: RunningProject, readings: dict[str, Usage]) -> None:
        by_type: dict[str, ProcessMetrics] = {}
        for replica_id, process in sorted(project.replicas.items(), key=lambda r: r[1]):
            reading = readings.get(replica_id)
            before = self._previous.get(replica_id)
            cpu = cpu_percent(before, reading) if before and reading else 0.0
            memory = memory_mb(reading) if reading else 0.0
            kept = by_type.get(process) or ProcessMetrics(replicas=0, cpu=0.0, memory=0.0)
            by_type[process] = ProcessMetrics(replicas=kept.replicas + 1, cpu=kept.cpu + cpu,
                                              memory=kept.memory + memory)
        for kept in by_type.values():
            kept.cpu, kept.memory = round(kept.cpu, 2), round(kept.memory, 2)
        metrics = Metrics(
            cpu=round(sum(p.cpu for p in by_type.values()), 2),
            memory=round(sum(p.memory for p in by_type.values()), 2),
            requests=self.counter.read(project.id, counted_since(
                project.release, project.container_id, project.host_port)),
            processes=by_type,
        )
        self.store.put(project.id, metrics)
        self.hub.publish(project.user_id, METRICS_UPDATED,
                         {"projectId": project.id, "metrics": metrics.model_dump()})

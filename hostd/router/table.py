"""Host name → project: the router's view of the database, cached.

`{name}.{handle}.localhost[:port]` names a project, and with HOSTD_APPS_DOMAIN also
`{name}.{handle}.<apps domain>[:port]` (any case, one trailing dot or none; more labels or
fewer name nothing). The dashboard's name
(`hostd.localhost`) and the names under it are never routed: no handle may be `hostd`
(hostd.store.validation), and one from before that rule is refused here.

A project answers from its upstreams (`Route.ports`): its `web` replicas that the control
plane marks serving (`process_replicas`, in replica order), or, when it has none (a project
deployed before replicas, one whose web replica rows are not written yet), its project
row's `host_port`. Which of them takes a request is `hostd.router.balance`'s choice.

The table is one dict read on the hot path; it is reloaded (two queries, in a worker
thread, one reload at a time) when a `status_changed` event marks it dirty, when it is
older than `ttl_s` (host port changes written without an event, e.g. by the
reconciler), or on an unknown host at most once per `miss_reload_s` (a project created
a moment ago), so an unknown-host flood costs at most one query a second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import cached_property
from typing import cast

import anyio
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from hostd.events import STATUS_CHANGED, Event
from hostd.router.counts import counted_since
from hostd.store.models import ProcessReplica, Project, ProjectStatus, User
from hostd.store.validation import RESERVED_HANDLES

SUFFIX = ".localhost"
WEB = "web"  # the only process type the router sends requests to


@dataclass(frozen=True)
class Route:
    project_id: str
    name: str
    handle: str
    status: str  # never its reason: the router's pages are public (hostd.router.pages)
    container_id: str | None
    host_port: int | None
    release: int | None = None
    replicas: tuple[int, ...] = ()  # the host ports of its serving web replicas

    @cached_property  # read on every request
    def ports(self) -> tuple[int, ...]:
        """Where new requests may go: the serving replicas, else the project's port while
        it has a web.1 (a project without one, web scaled to 0, keeps no port to go to)."""
        if self.replicas:
            return self.replicas
        return (self.host_port,) if self.host_port is not None and self.container_id else ()

    @property
    def serving(self) -> bool:
        # A redeploy keeps the project's running container (and its port) until it
        # switches to the new one: traffic flows all along. A project whose web.1 crashed
        # reads `error` while it waits out its backoff, and its other web replicas serve on
        # (web.1's row stops serving at the crash: hostd.store.formation.sync_web1).
        if self.status == ProjectStatus.error:
            return bool(self.replicas)
        return (self.status in (ProjectStatus.running, ProjectStatus.deploying)
                and bool(self.ports))

    @property
    def started(self) -> str:
        return counted_since(self.release, self.container_id, self.host_port)


def parse_host(host: str, apps_domain: str | None = None) -> tuple[str, str] | None:
    """`shop.alice.localhost:8080` (or `shop.alice.<apps_domain>`) → ("shop", "alice");
    None for any other shape. `apps_domain` is as hostd.config.domain gives it."""
    host = host.strip().lower()
    name_part, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        host = name_part
    host = host.removesuffix(".")
    if apps_domain is not None and host.endswith("." + apps_domain):
        front = host[: -len(apps_domain) - 1]
    elif host.endswith(SUFFIX):
        front = host[: -len(SUFFIX)]
    else:
        return None
    labels = front.split(".")
    if len(labels) != 2 or not all(labels) or labels[1] in RESERVED_HANDLES:
        return None
    return labels[0], labels[1]


def load_routes(db: Engine) -> dict[tuple[str, str], Route]:
    """Every project's route, in two queries: the projects, and the serving web replicas
    (few rows: most projects have none, and this read must stay cheap for those)."""
    # What sqlmodel's select() builds for several columns; its overloads stop at four.
    projects = cast("Select[str, str, str, str, str | None, int | None, int | None]", Select(
        col(Project.id), col(Project.name), col(User.handle), col(Project.status),
        col(Project.container_id), col(Project.host_port), col(Project.release_version),
    ).join(User))
    replicas = (select(ProcessReplica.project_id, ProcessReplica.host_port)
                .where(col(ProcessReplica.process) == WEB, col(ProcessReplica.serving),
                       col(ProcessReplica.host_port).is_not(None))
                .order_by(col(ProcessReplica.number), col(ProcessReplica.release_version)))
    with Session(db) as session:
        rows = session.exec(projects).all()
        serving = session.exec(replicas).all()
    ports: dict[str, list[int]] = {}
    for project_id, port in serving:
        if port is not None and port not in ports.setdefault(project_id, []):
            ports[project_id].append(port)
    return {(row[1].lower(), row[2].lower()): Route(*row, tuple(ports.get(row[0], ())))
            for row in rows}


class RouteTable:
    def __init__(self, db: Engine, ttl_s: float = 5.0, miss_reload_s: float = 1.0) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._miss_reload_s = miss_reload_s
        self._routes: dict[tuple[str, str], Route] = {}
        self._loaded_at = float("-inf")
        self._dirty = True
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._dirty = True

    def on_event(self, event: Event) -> None:
        """Hub listener: a status change may change where (and whether) a project answers."""
        if event.name == STATUS_CHANGED:
            self._dirty = True

    async def lookup(self, name: str, handle: str) -> Route | None:
        if self._dirty or self._age() > self._ttl_s:
            await self._reload(max_age=self._ttl_s)
        route = self._routes.get((name, handle))
        if route is None and self._age() > self._miss_reload_s:
            await self._reload(max_age=self._miss_reload_s)
            route = self._routes.get((name, handle))
        return route

    def _age(self) -> float:
        return time.monotonic() - self._loaded_at

    async def _reload(self, max_age: float) -> None:
        async with self._lock:
            # Whoever held the lock before us may have just reloaded.
            if not self._dirty and self._age() <= max_age:
                return
            self._dirty = False  # an event during the load marks it dirty again
            started = time.monotonic()
            try:
                self._routes = await anyio.to_thread.run_sync(load_routes, self._db)
            except Exception:
                self._dirty = True
                raise
            self._loaded_at = started

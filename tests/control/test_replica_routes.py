"""The router learns every change to a project's web replicas from the control plane's
`status_changed` events (issue 26), on FakeRuntime: a route table that only reloads on an
event (its TTL an hour) always ends where the database is, after a scale up and down, a
redeploy's switch and retire, a crash of web.2 and its restart, a crash of web.1. And a
deploy's new web replicas serve only from its switch, all at once with their release."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session

from hostd.control.formation import Target, owner_of
from hostd.router.table import RouteTable, load_routes
from hostd.store.models import Project, User
from hostd.store.models.processes import ProcessReplica
from tests.control.conftest import commit_files, deployed, redeployed, until
from tests.control.test_formation import APP, running_of, scale, settled


class EventOnlyTable:
    """A route table reloaded on `status_changed` only, looked up every 20 ms (as traffic
    would), beside what the database says."""

    def __init__(self, daemon: Any, handle: str) -> None:
        self.db = daemon.services.db
        self.key = ("site", handle)
        self.table = RouteTable(self.db, ttl_s=3600, miss_reload_s=3600)
        daemon.services.hub.listen(self.table.on_event)
        self._stop = threading.Event()

    def seen(self) -> tuple[int, ...]:
        route = asyncio.run(self.table.lookup(*self.key))
        return route.ports if route is not None and route.serving else ()

    def truth(self) -> tuple[int, ...]:
        route = load_routes(self.db).get(self.key)
        return route.ports if route is not None and route.serving else ()

    @contextmanager
    def looking(self) -> Iterator[EventOnlyTable]:
        def look() -> None:
            while not self._stop.wait(0.02):
                self.seen()

        thread = threading.Thread(target=look, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(5)

    def agrees(self, wanted: int) -> None:
        """Until the database has `wanted` upstreams, and then that the table has them."""
        deadline = time.monotonic() + 15
        while len(self.truth()) != wanted:
            assert time.monotonic() < deadline, self.truth()
            time.sleep(0.05)
        time.sleep(0.2)  # a lookup or ten, and any event still on its way
        assert self.seen() == self.truth(), (self.seen(), self.truth())


def handle_of(daemon: Any, project_id: str) -> str:
    with Session(daemon.services.db) as session:
        project = session.get(Project, project_id)
        assert project is not None
        user = session.get(User, project.user_id)
        assert user is not None
        return user.handle


def test_every_replica_change_reaches_the_router_by_its_event(daemon, repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo, files=APP)
        pid = project["id"]
        table = EventOnlyTable(daemon, handle_of(daemon, pid))
        with table.looking():
            table.agrees(1)
            assert scale(client, pid, web=3).status_code == 200
            table.agrees(3)
            assert scale(client, pid, web=2).status_code == 200
            table.agrees(2)
            before = set(table.seen())
            commit_files(project["github_url"], {"index.html": "<h1>v2</h1>\n"})
            assert redeployed(client, pid)["release"] == 2
            table.agrees(2)
            assert not set(table.seen()) & before  # the switch, and the old ones retired
            web2 = running_of(daemon, pid, "web")[1]
            daemon.fake.crash(web2.id)
            table.agrees(1)
            table.agrees(2)  # started again after its backoff, serving again
            web1 = running_of(daemon, pid, "web")[0]
            daemon.fake.crash(web1.id)
            until(client, pid, lambda p: p["status"] == "error")
            table.agrees(1)  # web.2 serves on while web.1 waits out its backoff
            until(client, pid, lambda p: p["status"] == "running")
            table.agrees(2)
        settled(daemon, client, pid, 2, 1)


def test_a_deploys_web_replicas_serve_only_from_its_switch(daemon, repo):
    """What the deploy's `web_replicas` step starts is health-gated with a port, and does
    not serve: until the switch, the router sends nothing to the new release."""
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        assert scale(client, pid, web=3).status_code == 200
        formation = daemon.services.lifecycle.formation
        with Session(daemon.services.db) as session:
            project = session.get(Project, pid)
            user = session.get(User, project.user_id) if project else None
        assert project is not None and user is not None and project.image is not None
        routed = load_routes(daemon.services.db)[("site", user.handle)].ports
        pending = Target(None, project.image, {}, {"web": "./serve", "worker": "./work"})
        started = formation.converge(project, owner_of(project, user), pending,
                                     types=lambda process: process == "web")
        try:
            assert [row.number for row in started] == [2, 3]
            with Session(daemon.services.db) as session:
                rows = [session.get(ProcessReplica, row.id) for row in started]
            assert all(row is not None and row.host_port and not row.serving for row in rows)
            assert load_routes(daemon.services.db)[("site", user.handle)].ports == routed
        finally:
            formation.remove(started)

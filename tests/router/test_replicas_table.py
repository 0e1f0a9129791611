"""Balancing from the database, as the control plane drives it: the router's real route
table (hostd.router.table.RouteTable) on a real SQLite file whose `process_replicas` rows the
test writes, then says so with a `status_changed` event, as a formation change would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from hostd.events import STATUS_CHANGED, Event
from hostd.router.counts import RequestCounter
from hostd.router.proxy import Router
from hostd.router.table import RouteTable
from hostd.store import db
from hostd.store.models import ProcessReplica, Project, User
from tests.router.proxykit import RouterThread
from tests.router.replicakit import Client, Replica

PROJECT = "p" * 32


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    made = db.make_engine(f"sqlite:///{tmp_path / 'hostd.db'}", 2)
    db.migrate(made)
    with Session(made) as session:
        session.add(User(id="u" * 32, email="a@example.com", name="Alice", handle="alice",
                         password_hash="x"))
        session.commit()
        session.add(Project(id=PROJECT, user_id="u" * 32, name="shop", template="static",
                            status="running", github_url="https://example.com/r.git",
                            release_version=1))
        session.commit()
    yield made
    made.dispose()


def set_replicas(database: Engine, ports: dict[int, int], serving: set[int]) -> None:
    """web.N on ports[N]; the ones in `serving` serving (rows written, then the event)."""
    with Session(database) as session:
        for number, port in ports.items():
            if session.get(ProcessReplica, f"web-{number}") is None:
                session.add(ProcessReplica(id=f"web-{number}", project_id=PROJECT,
                                           process="web", number=number, host_port=port,
                                           release_version=1))
        session.commit()
        session.execute(update(ProcessReplica).values(
            serving=col(ProcessReplica.number).in_(serving)))
        session.commit()


def test_the_router_follows_the_replica_rows(database: Engine) -> None:
    table, counter = RouteTable(database, ttl_s=60.0), RequestCounter()
    changed = Event(1, STATUS_CHANGED, "u" * 32, {"projectId": PROJECT})
    with Replica("a") as a, Replica("b") as b, Replica("c") as c, \
            RouterThread(lambda: Router(table, counter)) as router:
        ports = {1: a.port, 2: b.port, 3: c.port}
        client = Client(router.port, "shop.alice")
        set_replicas(database, ports, {1})
        table.on_event(changed)
        first = [client.get("/who").text for _ in range(4)]
        set_replicas(database, ports, {1, 2, 3})  # scaled up: web.2 and web.3 serve
        table.on_event(changed)
        spread = [client.get("/who").text for _ in range(9)]
        set_replicas(database, ports, {2, 3})  # web.1 retired
        table.on_event(changed)
        after = [client.get("/who").text for _ in range(6)]
        client.close()
    assert first == ["a"] * 4
    assert sorted(spread) == ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    assert sorted(after) == ["b"] * 3 + ["c"] * 3
    assert counter.read(PROJECT, "v1") == 19

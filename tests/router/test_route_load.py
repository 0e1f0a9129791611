"""The route table's load (hostd.router.table.load_routes) on a real database: a project's
upstreams are its serving `web` replicas in replica order, else its own host port; two
queries for the whole table, whatever the number of projects. SQLite here, PostgreSQL too
under `--db postgres`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from hostd.router.table import Route, load_routes
from hostd.store import db
from hostd.store.models import ProcessReplica, Project, User
from tests.plugins.postgres import new_database

Replica = tuple[str, int, int | None, bool, int]  # process, number, host port, serving, release


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    made = db.make_engine(new_database() or f"sqlite:///{tmp_path / 'hostd.db'}", 2)
    db.migrate(made)
    yield made
    made.dispose()


def add_project(database: Engine, name: str, host_port: int | None,
                replicas: Sequence[Replica] = (),
                status: str = "running") -> str:
    """A project of Alice's, with its replica rows."""
    with Session(database) as session:
        user = session.get(User, "u" * 32)
        if user is None:
            session.add(User(id="u" * 32, email="a@example.com", name="Alice", handle="alice",
                             password_hash="x"))
            session.commit()
        project = Project(user_id="u" * 32, name=name, template="static", status=status,
                          github_url="https://example.com/r.git", host_port=host_port,
                          container_id=f"c-{name}", release_version=1)
        session.add(project)
        session.commit()
        for process, number, port, serving, release in replicas:
            session.add(ProcessReplica(id=f"{name}-{process}-{number}-{release}",
                                       project_id=project.id, process=process, number=number,
                                       host_port=port, serving=serving,
                                       release_version=release))
        session.commit()
        return project.id


def test_serving_web_replicas_in_order(database: Engine) -> None:
    add_project(database, "shop", 7000, [
        ("web", 3, 7003, True, 1), ("web", 1, 7001, True, 1), ("web", 2, 7002, True, 1),
        ("web", 4, 7004, False, 1),  # being retired: no new requests
        ("web", 5, None, True, 1),  # no port yet
        ("worker", 1, 7100, True, 1),  # never routed
    ])
    route = load_routes(database)[("shop", "alice")]
    assert route.ports == (7001, 7002, 7003) and route.serving


def test_a_rollout_serves_both_releases_replicas(database: Engine) -> None:
    add_project(database, "shop", None, [("web", 1, 7001, True, 1), ("web", 1, 7011, True, 2)])
    assert load_routes(database)[("shop", "alice")].ports == (7001, 7011)


def test_without_serving_replicas_the_project_port_serves(database: Engine) -> None:
    add_project(database, "old", 7000)
    add_project(database, "draining", 7200, [("web", 1, 7201, False, 1)])
    add_project(database, "worker-only", None, [("worker", 1, 7300, True, 1)])
    routes = load_routes(database)
    assert routes[("old", "alice")].ports == (7000,)
    assert routes[("draining", "alice")].ports == (7200,)
    worker_only = routes[("worker-only", "alice")]
    assert worker_only.ports == () and not worker_only.serving  # no web: no URL to serve


def test_the_count_starts_from_the_release_as_before(database: Engine) -> None:
    add_project(database, "shop", 7000, [("web", 1, 7001, True, 1), ("web", 2, 7002, True, 1)])
    route = load_routes(database)[("shop", "alice")]
    assert route.started == "v1" and route.host_port == 7000
    assert Route("p", "n", "h", "running", "c", 7000).started == "c:7000"  # no release


def test_the_whole_table_is_two_queries(database: Engine) -> None:
    for index in range(20):
        add_project(database, f"p{index}", 7000 + index,
                    [("web", n, 8000 + 10 * index + n, True, 1) for n in range(1, 4)])
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(database, "before_cursor_execute", count)
    try:
        routes = load_routes(database)
    finally:
        event.remove(database, "before_cursor_execute", count)
    assert len(statements) == 2, statements  # the projects, the serving web replicas
    assert len(routes) == 20 and routes[("p7", "alice")].ports == (8071, 8072, 8073)


def test_a_route_holds_its_own_projects_replicas_only(database: Engine) -> None:
    """Replica rows of one project never reach another's route: each routes to its own."""
    add_project(database, "shop", 7000, [("web", 1, 7001, True, 1), ("web", 2, 7002, True, 1)])
    add_project(database, "blog", 7500, [("web", 1, 7501, True, 1)])
    add_project(database, "wiki", 7900)
    routes = load_routes(database)
    assert routes[("shop", "alice")].ports == (7001, 7002)
    assert routes[("blog", "alice")].ports == (7501,)
    assert routes[("wiki", "alice")].ports == (7900,)


def test_a_crashed_web1_leaves_its_other_web_replicas_serving(database: Engine) -> None:
    """web.1 crashed (the project reads `error` while it waits out its backoff, web.1's row
    no longer serving): web.2 and web.3 take the requests. Without them, `error` serves
    nothing, even with the project's port still set."""
    add_project(database, "shop", 7000, [("web", 1, 7001, False, 1), ("web", 2, 7002, True, 1),
                                         ("web", 3, 7003, True, 1)], status="error")
    add_project(database, "alone", 7100, [("web", 1, 7101, False, 1)], status="error")
    routes = load_routes(database)
    assert routes[("shop", "alice")].ports == (7002, 7003) and routes[("shop", "alice")].serving
    assert not routes[("alone", "alice")].serving


def test_a_project_without_web1_gets_no_traffic_at_a_port_left_on_its_row():
    # web scaled to 0 (or a release without `web`): no container, so a port still on the
    # project's row is stale, never an upstream; the router answers 503, not a 502.
    stale = Route("p", "n", "h", "running", None, 7000)
    assert stale.ports == () and not stale.serving
    assert Route("p", "n", "h", "running", "c", 7000).ports == (7000,)
    assert Route("p", "n", "h", "running", None, 7000, replicas=(7001,)).ports == (7001,)

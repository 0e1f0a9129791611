"""Rows kept in memory (hostd.store.readcache) are never staler than the database: every
write this daemon makes through its engine is seen by the next read, whichever way it was
made (ORM session, Core transaction, delete, rollback), a read made while a write is under
way is not kept, and nobody is answered from another user's rows; and through a real
daemon, the read after a change shows it while others poll. On SQLite and, under
`--db postgres`, on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text, update
from sqlmodel import Session

from hostd.errors import NotFound
from hostd.store import db, dburl, projects
from hostd.store.freshness import Freshness, is_write
from hostd.store.metrics import MetricsStore
from hostd.store.models import Project, User
from hostd.store.readcache import CachedRows
from hostd.store.rows import AnySelect, PgRows, Row, SqliteRows
from tests.plugins.postgres import new_database
from tests.test_lean_reads import ALICE, API, BOB, WEB, _fill


@dataclass
class Counted:
    """The backend's real rows, counting the reads that reach the database; `meanwhile`
    runs (in a thread, as hostd's writes do) once the database has answered."""

    rows: Any
    reads: int = 0
    meanwhile: list[Any] = field(default_factory=list)

    async def all(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]:
        self.reads += 1
        found = await self.rows.all(statement, params)
        while self.meanwhile:
            await asyncio.to_thread(self.meanwhile.pop(0))
        return found


@dataclass
class Backend:
    engine: Engine
    counted: Counted
    cached: CachedRows
    alice: User
    bob: User
    url: Any


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    url = dburl.parse(new_database() or f"sqlite:///{tmp_path / 'hostd.db'}")
    engine = db.make_engine(url, 4)
    freshness = Freshness()
    freshness.watch(engine)
    db.migrate(engine)
    _fill(engine)
    loop_reader = db.make_loop_reader(url)
    rows: Any = (SqliteRows(loop_reader) if loop_reader is not None
                 else PgRows(engine.url, engine.dialect, 2))
    counted = Counted(rows)
    with Session(engine, expire_on_commit=False) as session:
        alice, bob = session.get(User, ALICE), session.get(User, BOB)
    assert alice is not None and bob is not None
    yield Backend(engine, counted, CachedRows(counted, freshness), alice, bob, url)
    if loop_reader is not None:
        loop_reader.dispose()
    engine.dispose()


def run(b: Backend, work: Any) -> Any:
    async def scenario() -> Any:
        if isinstance(b.counted.rows, PgRows):
            await b.counted.rows.open()
        try:
            return await work(b.cached)
        finally:
            await b.counted.rows.close()
    return asyncio.run(scenario())


def set_status(engine: Engine, status: str) -> None:
    with Session(engine) as session:
        project = session.get(Project, WEB)
        assert project is not None
        project.status = status
        session.add(project)
        session.commit()


def test_a_repeated_read_does_not_reach_the_database(backend: Backend) -> None:
    async def scenario(r: CachedRows) -> list[Any]:
        return [await projects.status_owned(r, backend.alice, WEB) for _ in range(5)]

    assert run(backend, scenario) == [("running", None)] * 5
    assert backend.counted.reads == 1


def test_reads_made_elsewhere_keep_what_is_kept(backend: Backend) -> None:
    """A transaction that only reads (a token check, a background look) changes nothing."""
    async def scenario(r: CachedRows) -> None:
        await projects.status_owned(r, backend.alice, WEB)
        with backend.engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM projects"))
        with Session(backend.engine) as session:
            session.get(Project, API)
        await projects.status_owned(r, backend.alice, WEB)

    run(backend, scenario)
    assert backend.counted.reads == 1


def test_an_orm_commit_is_seen_by_the_next_read(backend: Backend) -> None:
    async def scenario(r: CachedRows) -> list[Any]:
        seen = [await projects.status_owned(r, backend.alice, WEB)]
        set_status(backend.engine, "stopped")
        seen.append(await projects.status_owned(r, backend.alice, WEB))
        return seen

    assert run(backend, scenario) == [("running", None), ("stopped", None)]


def test_a_core_transaction_and_a_delete_are_seen(backend: Backend) -> None:
    view = projects.PublicView(8080, MetricsStore(), lambda pid: False)

    async def scenario(r: CachedRows) -> tuple[Any, Any, Any]:
        before = [view.of_row(backend.alice, row).name
                  for row in await projects.list_rows(r, backend.alice)]
        with backend.engine.begin() as conn:
            conn.execute(update(Project).where(Project.id == WEB).values(name="site"))
        renamed = [view.of_row(backend.alice, row).name
                   for row in await projects.list_rows(r, backend.alice)]
        with Session(backend.engine) as session:
            session.delete(session.get(Project, WEB))
            session.commit()
        try:
            view.of_row(backend.alice, await projects.owned_row(r, backend.alice, WEB))
            gone = False
        except NotFound:
            gone = True
        return before, renamed, gone

    assert run(backend, scenario) == (["web"], ["site"], True)


def test_what_is_read_during_an_uncommitted_write_is_not_kept(backend: Backend) -> None:
    async def scenario(r: CachedRows) -> list[Any]:
        seen = []
        with Session(backend.engine) as session:
            project = session.get(Project, WEB)
            assert project is not None
            project.status = "stopped"
            session.add(project)
            session.flush()  # written, not committed
            seen.append(await projects.status_owned(r, backend.alice, WEB))
            seen.append(await projects.status_owned(r, backend.alice, WEB))
            session.commit()
        seen.append(await projects.status_owned(r, backend.alice, WEB))
        return seen

    assert run(backend, scenario) == [("running", None), ("running", None),
                                      ("stopped", None)]
    assert backend.counted.reads == 3  # both reads under the write went to the database


def test_after_a_rollback_reads_are_kept_again(backend: Backend) -> None:
    async def scenario(r: CachedRows) -> Any:
        with Session(backend.engine) as session:
            session.execute(update(Project).where(Project.id == WEB).values(status="error"))
            session.rollback()
        first = await projects.status_owned(r, backend.alice, WEB)
        await projects.status_owned(r, backend.alice, WEB)
        return first

    assert run(backend, scenario) == ("running", None)
    assert backend.counted.reads == 1


def test_a_write_committed_during_a_read_is_not_hidden(backend: Backend) -> None:
    """The read answered before the write, so it may say `running`; it must not be kept."""
    backend.counted.meanwhile.append(lambda: set_status(backend.engine, "stopped"))

    async def scenario(r: CachedRows) -> list[Any]:
        return [await projects.status_owned(r, backend.alice, WEB) for _ in range(2)]

    assert run(backend, scenario) == [("running", None), ("stopped", None)]


def test_nobody_is_answered_from_another_users_rows(backend: Backend) -> None:
    async def scenario(r: CachedRows) -> Any:
        await projects.status_owned(r, backend.alice, WEB)
        try:
            return await projects.status_owned(r, backend.bob, WEB)
        except NotFound:
            return "not found"

    assert run(backend, scenario) == "not found"


def test_a_write_from_another_process_shows_within_the_ttl(backend: Backend) -> None:
    """Another daemon on a shared database writes through an engine this one cannot
    watch: its change shows once the kept rows are `ttl_s` old."""
    other = db.make_engine(backend.url, 2)
    backend.cached.ttl_s = 0.2

    async def scenario(r: CachedRows) -> list[Any]:
        seen = [await projects.status_owned(r, backend.alice, WEB)]
        set_status(other, "stopped")
        await asyncio.sleep(0.3)
        seen.append(await projects.status_owned(r, backend.alice, WEB))
        return seen

    try:
        assert run(backend, scenario) == [("running", None), ("stopped", None)]
    finally:
        other.dispose()


def test_writes_from_many_threads_leave_nothing_under_way(backend: Backend) -> None:
    freshness = backend.cached.freshness

    def write(n: int) -> None:
        set_status(backend.engine, "stopped" if n % 2 else "running")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert freshness.writing == 0
    assert freshness.clean() == freshness.generation


@pytest.mark.parametrize(("statement", "writes"), [
    ("SELECT 1", False), ("  select * from projects", False), ("SHOW timezone", False),
    ("UPDATE projects SET name = 'x'", True), ("PRAGMA journal_mode=WAL", True),
    ("WITH x AS (DELETE FROM projects RETURNING id) SELECT id FROM x", True),
])
def test_what_counts_as_a_write(statement: str, writes: bool) -> None:
    assert is_write(statement, None) is writes


def test_through_a_real_daemon_each_change_shows_in_the_next_read(hostd, client, user) -> None:
    """Readers poll the project and the list (keeping its rows and JSON warm) while its
    owner changes it again and again: the read after each answer shows that change."""
    from tests.support import client_for
    from tests.test_projects_api import create

    headers = user["headers"]
    project = create(client, headers)
    path = f"/api/projects/{project['id']}"
    stop = threading.Event()

    def poll() -> None:
        with client_for(hostd) as c:
            for _ in range(5000):  # bounded; stopped long before
                if stop.is_set():
                    return
                c.get(path, headers=headers)
                c.get("/api/projects", headers=headers)

    readers = [threading.Thread(target=poll) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for n in range(30):
            value = f"/health-{n}"
            changed = client.patch(path, headers=headers, json={"health_path": value})
            assert changed.status_code == 200, changed.text
            assert client.get(path, headers=headers).json()["project"]["health_path"] == value
            listed = client.get("/api/projects", headers=headers).json()["projects"]
            assert [p["health_path"] for p in listed if p["id"] == project["id"]] == [value]
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)

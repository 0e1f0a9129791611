"""The lean read path (hostd.store.rows) returns what SQLAlchemy itself returns, and its
queries keep the ownership rule: someone else's project does not exist for the caller.

On SQLite (the loop's driver connection) and, under `--db postgres`, on PostgreSQL (the
async psycopg pool): the rows are compared with SQLAlchemy's for each statement."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from hostd.errors import NotFound
from hostd.store import db, dburl, projects
from hostd.store.metrics import MetricsStore
from hostd.store.models import Project, User
from hostd.store.rows import CoreRows, PgRows, SqliteRows
from tests.plugins.postgres import new_database

ALICE, BOB, WEB, API = "a" * 32, "b" * 32, "p" * 32, "q" * 32


def _fill(engine: Engine) -> None:
    with Session(engine) as session:
        session.add_all([
            User(id=ALICE, email="alice@example.com", name="Alice", handle="alice",
                 password_hash="x"),
            User(id=BOB, email="bob@example.com", name="Bob", handle="bob", password_hash="x"),
        ])
        session.commit()
        session.add_all([
            Project(id=WEB, user_id=ALICE, name="web", template="static",
                    github_url="https://github.com/o/r", status="running",
                    last_exit_code=137, last_exit_oom=True,
                    last_exit_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)),
            Project(id=API, user_id=BOB, name="api", template="flask",
                    github_url="https://github.com/o/s", status="stopped"),
        ])
        session.commit()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Engine, Any, User, User]]:
    """(engine, the lean rows of this backend, Alice, Bob)."""
    pg_url = new_database()
    url = dburl.parse(pg_url or f"sqlite:///{tmp_path / 'hostd.db'}")
    engine = db.make_engine(url, 4)
    db.migrate(engine)
    _fill(engine)
    loop_reader = db.make_loop_reader(url)
    rows: Any = (SqliteRows(loop_reader) if loop_reader is not None
                 else PgRows(engine.url, engine.dialect, 2))
    with Session(engine, expire_on_commit=False) as session:
        alice, bob = session.get(User, ALICE), session.get(User, BOB)
    assert alice is not None and bob is not None
    yield engine, rows, alice, bob
    if loop_reader is not None:
        loop_reader.dispose()
    engine.dispose()


async def owned_public(rows: Any, user: User, view: projects.PublicView, pid: str) -> Any:
    """The public shape of the caller's project, as the by-id route builds it."""
    return view.of_row(user, await projects.owned_row(rows, user, pid))


def run(rows: Any, work: Any) -> Any:
    """`work(rows)` on an event loop of its own, the rows opened and closed around it."""
    async def scenario() -> Any:
        if isinstance(rows, PgRows):
            await rows.open()
        try:
            return await work(rows)
        finally:
            await rows.close()
    return asyncio.run(scenario())


@pytest.mark.parametrize("statement", ["_LIST_PUBLIC", "_ONE_PUBLIC", "_ONE_STATUS"])
def test_driver_rows_equal_sqlalchemy_rows(database, statement: str) -> None:
    engine, rows, alice, _ = database
    query = getattr(projects, statement)
    params = {"user_id": alice.id, "id": WEB}
    with engine.connect() as conn:
        expected = CoreRows(conn).now(query, params)
    got = run(rows, lambda r: r.all(query, params))
    assert got == expected and got
    assert [type(v) for v in got[0]] == [type(v) for v in expected[0]]


def test_public_shape_from_driver_rows(database) -> None:
    _, rows, alice, _ = database
    view = projects.PublicView(8080, MetricsStore(), lambda pid: pid == WEB)
    public = run(rows, lambda r: owned_public(r, alice, view, WEB))
    assert public.url == "http://web.alice.localhost:8080" and public.deploying
    assert public.last_exit is not None and public.last_exit.signal == "SIGKILL"
    assert public.last_exit.oom_killed is True
    assert public.created_at.tzinfo is not None


def test_reads_are_owner_scoped(database) -> None:
    _, rows, alice, bob = database
    view = projects.PublicView(8080, MetricsStore(), lambda pid: False)

    async def scenario(r: Any) -> list[str]:
        with pytest.raises(NotFound):
            view.of_row(bob, await projects.owned_row(r, bob, WEB))
        with pytest.raises(NotFound):
            await projects.status_owned(r, alice, API)
        return [view.of_row(bob, row).name for row in await projects.list_rows(r, bob)]

    assert run(rows, scenario) == ["api"]


def test_a_read_sees_the_latest_commit(database) -> None:
    engine, rows, alice, _ = database

    async def scenario(r: Any) -> tuple[Any, Any]:
        before = await projects.status_owned(r, alice, WEB)
        with Session(engine) as session:
            project = session.get(Project, WEB)
            assert project is not None
            project.status, project.status_reason = "error", "it crashed"
            session.add(project)
            session.commit()
        return before, await projects.status_owned(r, alice, WEB)

    assert run(rows, scenario) == (("running", None), ("error", "it crashed"))


def test_a_loaded_project_shows_as_a_read_does(database) -> None:
    """After a change the routes show the ORM object they hold: the same shape."""
    engine, rows, alice, _ = database
    view = projects.PublicView(8080, MetricsStore(), lambda pid: False)
    read = run(rows, lambda r: owned_public(r, alice, view, WEB))
    with Session(engine) as session:
        loaded = session.get(Project, WEB)
        assert loaded is not None
        shown = view.of_project(alice, loaded)
    assert shown.model_dump_json() == read.model_dump_json()


def test_kept_json_is_the_models_json_and_follows_its_live_parts(database) -> None:
    """hostd.store.reads.PublicJson answers the list and by-id routes: byte for byte what
    the response models serialize to, and never an old sample or deploying flag."""
    from hostd.store.models import Metrics, ProjectList, ProjectResponse
    from hostd.store.reads import PublicJson

    _, rows, alice, _ = database
    deploying: set[str] = set()
    metrics = MetricsStore()
    view = projects.PublicView(8080, metrics, lambda pid: pid in deploying)
    kept = PublicJson(view)
    found = run(rows, lambda r: projects.list_rows(r, alice))

    def models() -> tuple[bytes, bytes]:
        public = [view.of_row(alice, row) for row in found]
        return (ProjectList.model_construct(projects=public).model_dump_json().encode(),
                ProjectResponse.model_construct(project=public[0]).model_dump_json().encode())

    def kept_json() -> tuple[bytes, bytes]:
        return (kept.list_body(alice, found),
                kept.one_body(alice, found[0]))

    assert kept_json() == models()
    deploying.add(WEB)
    metrics.put(WEB, Metrics(cpu=12.5, memory=64.0, requests=3))
    assert kept_json() == models()
    assert b'"deploying":true' in kept_json()[1] and b"12.5" in kept_json()[1]
    deploying.clear()
    assert kept_json() == models()


class _Recording(dict[str, Any]):
    """A row by name that notes which columns were read."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def test_public_fields_and_selected_columns_agree(database) -> None:
    """The rows are unpacked by name: every selected column is a project attribute of that
    name and is read, every public field is set, and a field named like a column shows
    that column. A column added to the select but not shown, or a field added to the
    model but not built, fails here."""
    from hostd.store.models import ProjectPublic

    _, rows, alice, _ = database
    row = run(rows, lambda r: projects.owned_row(r, alice, WEB))
    assert len(row) == len(projects.PUBLIC_NAMES)
    assert set(projects.PUBLIC_NAMES) <= set(Project.model_fields)
    columns = _Recording(projects.PublicView.named(row))
    view = projects.PublicView(8080, MetricsStore(), lambda pid: False)
    public = view.shape(alice, columns, None, False)
    assert columns.read == set(projects.PUBLIC_NAMES)
    assert public.model_fields_set == set(ProjectPublic.model_fields)
    for name in set(projects.PUBLIC_NAMES) & set(ProjectPublic.model_fields):
        assert getattr(public, name) == columns[name], name


def test_a_kept_list_follows_its_rows_and_owner(database) -> None:
    """The whole list body is kept per user: new rows (a write) or another handle give
    the body the models give, never the kept one."""
    from hostd.store.models import ProjectList
    from hostd.store.reads import PublicJson

    _, rows, alice, _ = database
    view = projects.PublicView(8080, MetricsStore(), lambda pid: False)
    kept = PublicJson(view)
    found = run(rows, lambda r: projects.list_rows(r, alice))

    def models(user: User, found: list[Any]) -> bytes:
        public = [view.of_row(user, row) for row in found]
        return ProjectList.model_construct(projects=public).model_dump_json().encode()

    assert kept.list_body(alice, found) == models(alice, found)
    at = projects.PUBLIC_NAMES.index("status")
    changed = [(*row[:at], "error", *row[at + 1:]) for row in found]
    assert kept.list_body(alice, changed) == models(alice, changed)
    assert b'"status":"error"' in kept.list_body(alice, changed)
    renamed = alice.model_copy(update={"handle": "alicia"})
    assert b"web.alicia.localhost" in kept.list_body(renamed, changed)
    assert kept.list_body(alice, []) == b'{"projects":[]}'


def test_a_read_survives_the_server_dropping_its_connections(database) -> None:
    """A PostgreSQL restart ends every pooled connection: the next read still answers
    (the read pool replaces them, as pool_pre_ping does for the main pool)."""
    from sqlalchemy import text

    engine, rows, alice, _ = database
    if not isinstance(rows, PgRows):
        pytest.skip("PostgreSQL's connections only: the `--db postgres` pass runs it")

    async def scenario(r: Any) -> tuple[Any, Any]:
        before = await projects.status_owned(r, alice, WEB)
        with engine.connect() as conn:  # what a restart does to every other connection
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        return before, await projects.status_owned(r, alice, WEB)

    assert run(rows, scenario) == (("running", None), ("running", None))

"""The lean read path (hostd.store.rows) returns what SQLAlchemy itself returns, and its
queries keep the ownership rule: someone else's project does not exist for the caller."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from hostd.errors import NotFound
from hostd.store import db, dburl, projects
from hostd.store.metrics import MetricsStore
from hostd.store.models import Project, User
from hostd.store.rows import CoreRows, SqliteRows


@pytest.fixture
def database(tmp_path: Path):
    url = dburl.parse(f"sqlite:///{tmp_path / 'hostd.db'}")
    engine = db.make_engine(url, 4)
    db.migrate(engine)
    with Session(engine, expire_on_commit=False) as session:
        alice = User(id="a" * 32, email="alice@example.com", name="Alice", handle="alice",
                     password_hash="x")
        bob = User(id="b" * 32, email="bob@example.com", name="Bob", handle="bob",
                   password_hash="x")
        session.add_all([alice, bob])
        session.commit()
        session.add_all([
            Project(id="p" * 32, user_id=alice.id, name="web", template="static",
                    github_url="https://github.com/o/r", status="running",
                    last_exit_code=137, last_exit_oom=True,
                    last_exit_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)),
            Project(id="q" * 32, user_id=bob.id, name="api", template="flask",
                    github_url="https://github.com/o/s", status="stopped"),
        ])
        session.commit()
    loop_reader = db.make_loop_reader(url)
    assert loop_reader is not None
    on_loop = SqliteRows(loop_reader)
    yield engine, on_loop, alice, bob
    on_loop.close()
    loop_reader.dispose()
    engine.dispose()


@pytest.mark.parametrize("statement", ["_LIST_PUBLIC", "_ONE_PUBLIC", "_ONE_STATUS"])
def test_driver_rows_equal_sqlalchemy_rows(database, statement: str) -> None:
    engine, on_loop, alice, _ = database
    query = getattr(projects, statement)
    params = {"user_id": alice.id, "id": "p" * 32}
    with engine.connect() as conn:
        expected = CoreRows(conn).all(query, params)
    got = on_loop.all(query, params)
    assert got == expected and got
    assert [type(v) for v in got[0]] == [type(v) for v in expected[0]]


def test_public_shape_from_driver_rows(database) -> None:
    _, on_loop, alice, _ = database
    view = projects.PublicView(8080, MetricsStore(), lambda pid: pid == "p" * 32)
    public = projects.public_owned(on_loop, alice, view, "p" * 32)
    assert public.url == "http://web.alice.localhost:8080" and public.deploying
    assert public.last_exit is not None and public.last_exit.signal == "SIGKILL"
    assert public.last_exit.oom_killed is True
    assert public.created_at.tzinfo is not None


def test_reads_are_owner_scoped(database) -> None:
    _, on_loop, alice, bob = database
    view = projects.PublicView(8080, MetricsStore(), lambda pid: False)
    with pytest.raises(NotFound):
        projects.public_owned(on_loop, bob, view, "p" * 32)
    with pytest.raises(NotFound):
        projects.status_owned(on_loop, alice, "q" * 32)
    assert [p.name for p in projects.list_public(on_loop, bob, view)] == ["api"]


def test_a_read_sees_the_latest_commit(database) -> None:
    engine, on_loop, alice, _ = database
    assert projects.status_owned(on_loop, alice, "p" * 32) == ("running", None)
    with Session(engine) as session:
        project = session.get(Project, "p" * 32)
        assert project is not None
        project.status, project.status_reason = "error", "it crashed"
        session.add(project)
        session.commit()
    assert projects.status_owned(on_loop, alice, "p" * 32) == ("error", "it crashed")

"""The Deployer's cancel rules without an engine: fake steps on a real SQLite database.

A step that raises once its scope is cancelled (a build whose socket the cancel closed)
ends the deploy as cancelled with the cancel's reason, never as a failure, and leaves the
project's status to the deploy that superseded it; waiting deploys are dropped with the
reason; a full queue is a 429 with Retry-After.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from hostd.config import Settings
from hostd.control import deployer as deploy
from hostd.control.changes import ChangeLocks
from hostd.control.deployer import Deployer
from hostd.control.job import SUPERSEDED, DeployJob, JobContext
from hostd.control.status import StatusBoard
from hostd.engine.client import EngineError
from hostd.errors import RateLimited
from hostd.events import EventHub
from hostd.store import db
from hostd.store.models import Deployment, Project, User

Step = Callable[[JobContext, DeployJob], None]


@pytest.fixture
def deployer(tmp_path: Path) -> Iterator[Deployer]:
    settings = Settings(_env_file=None, data_dir=tmp_path, max_queued_deploys=1,  # type: ignore[call-arg]
                        deploy_concurrency=1, instance="test-cancel")
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hostd.db'}")
    db.migrate(engine)
    board = StatusBoard(engine, EventHub())
    yield Deployer(settings, engine, runtime=None, board=board,  # type: ignore[arg-type]
                   retirer=None, changes=ChangeLocks())  # type: ignore[arg-type]
    engine.dispose()


def add_project(deployer: Deployer, name: str = "app") -> tuple[Project, User]:
    with Session(deployer.db) as session:
        user = User(email=f"{name}@example.com", name=name, handle=f"h-{name}",
                    password_hash="x")
        session.add(user)
        session.commit()
        project = Project(user_id=user.id, name=name, template="static",
                          github_url="https://example.com/a.git")
        session.add(project)
        session.commit()
        session.refresh(user)
        session.refresh(project)
        return project, user


def submit(deployer: Deployer, project: Project, user: User) -> Deployment:
    with Session(deployer.db) as session:
        row = deployer.submit(session, project, user)
        session.refresh(row)
        return row


def row(deployer: Deployer, deployment_id: str) -> Deployment:
    with Session(deployer.db) as session:
        found = session.get(Deployment, deployment_id)
        assert found is not None
        return found


def project_row(deployer: Deployer, project_id: str) -> Project:
    with Session(deployer.db) as session:
        found = session.get(Project, project_id)
        assert found is not None
        return found


def with_steps(monkeypatch: pytest.MonkeyPatch, *steps: Step) -> None:
    monkeypatch.setattr(deploy, "STEPS", [(name, step) for name, step
                                          in zip(("clone", "build"), steps, strict=False)])


def take_and_run(deployer: Deployer) -> None:
    entry = deployer._queue.take(timeout=1)
    assert entry is not None
    try:
        deployer.run(entry.job)
    finally:
        deployer._queue.done(entry)


def test_a_step_that_raises_after_its_cancel_ends_cancelled_not_failed(deployer, monkeypatch):
    project, user = add_project(deployer)
    started, release = threading.Event(), threading.Event()

    def build(_: JobContext, job: DeployJob) -> None:
        # Like a build stream whose socket the cancel hook closes: it errors out.
        job.cancel.on_cancel(release.set)
        started.set()
        release.wait(5)
        raise EngineError("connection closed while reading the build stream")

    with_steps(monkeypatch, lambda d, j: None, build)
    first = submit(deployer, project, user)
    worker = threading.Thread(target=take_and_run, args=(deployer,))
    worker.start()
    assert started.wait(5)
    deployer.cancel(project.id, SUPERSEDED)
    worker.join(5)
    ended = row(deployer, first.id)
    assert (ended.status, ended.reason) == ("failed", SUPERSEDED)
    assert ended.finished_at is not None
    # The status stays the deploying one the superseding deploy owns, not `error`.
    assert project_row(deployer, project.id).status == "deploying"
    assert not deployer.is_deploying(project.id)


def test_the_same_error_without_a_cancel_is_a_failure(deployer, monkeypatch):
    project, user = add_project(deployer)

    def build(_: JobContext, job: DeployJob) -> None:
        raise EngineError("connection closed while reading the build stream")

    with_steps(monkeypatch, lambda d, j: None, build)
    first = submit(deployer, project, user)
    take_and_run(deployer)
    assert row(deployer, first.id).status == "failed"
    assert "Docker engine error" in (row(deployer, first.id).reason or "")
    assert project_row(deployer, project.id).status == "error"


def test_cancel_drops_waiting_deploys_with_the_reason(deployer, monkeypatch):
    project, user = add_project(deployer)
    waiting = submit(deployer, project, user)
    deployer.cancel(project.id, SUPERSEDED)
    dropped = row(deployer, waiting.id)
    assert (dropped.status, dropped.step, dropped.reason) == ("failed", "cancelled", SUPERSEDED)
    assert not deployer.is_deploying(project.id)
    assert deployer._queue.take(timeout=0) is None


def test_a_full_queue_is_rate_limited_with_retry_after(deployer):
    project, user = add_project(deployer)
    submit(deployer, project, user)
    with pytest.raises(RateLimited) as refused:
        submit(deployer, project, user)
    assert refused.value.status_code == 429
    assert int(refused.value.headers["Retry-After"]) >= 1
    with Session(deployer.db) as session:
        count = len(session.exec(select(Deployment)).all())
    assert count == 1, "the refused deploy recorded nothing"

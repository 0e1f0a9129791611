"""The Deployer's pools without an engine: fake steps on a real SQLite database, one
worker in each pool. A release phase that blocks holds its release worker and nothing
else: another user's deploy goes live meanwhile, a third release phase waits for the
slot with a status that says so, and a cancel ends a deploy waiting between pools at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from hostd.config import Settings
from hostd.control import deployer as deploy
from hostd.control.changes import ChangeLocks
from hostd.control.deployer import Deployer
from hostd.control.job import DELETED, DeployJob, JobContext
from hostd.control.status import StatusBoard
from hostd.events import EventHub
from hostd.store import db
from hostd.store.models import Deployment, Project, User

WAIT_S = 10.0


@pytest.fixture
def deployer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployer]:
    settings = Settings(_env_file=None, data_dir=tmp_path, deploy_concurrency=1,  # type: ignore[call-arg]
                        build_concurrency=1, release_concurrency=1, instance="test-stages")
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hostd.db'}")
    db.migrate(engine)
    monkeypatch.setattr(deploy, "prune_old_images", lambda ctx, job: None)  # no engine
    board = StatusBoard(engine, EventHub())
    made = Deployer(settings, engine, runtime=None, board=board,  # type: ignore[arg-type]
                    retirer=None, changes=ChangeLocks())  # type: ignore[arg-type]
    yield made
    made._queue.close()
    engine.dispose()


def add_project(deployer: Deployer, name: str) -> tuple[Project, User]:
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


def submit(deployer: Deployer, name: str) -> tuple[Project, str]:
    project, user = add_project(deployer, name)
    with Session(deployer.db) as session:
        return project, deployer.submit(session, project, user).id


def read(deployer: Deployer, kind: type[Project] | type[Deployment], key: str) -> dict:
    with Session(deployer.db) as session:
        found = session.get(kind, key)
        assert found is not None
        return found.model_dump()


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_a_blocked_release_phase_holds_only_a_release_worker(deployer, monkeypatch):
    sleeping, wake = threading.Event(), threading.Event()

    def build(_: JobContext, job: DeployJob) -> None:
        job.release_command = "sleep 600" if job.name.startswith("sleeper") else None

    def release(_: JobContext, job: DeployJob) -> None:
        job.cancel.on_cancel(wake.set)
        sleeping.set()
        wake.wait(WAIT_S)

    def nothing(_: JobContext, job: DeployJob) -> None:
        pass

    monkeypatch.setattr(deploy, "STEPS", [("clone", nothing), ("build", build),
                                          ("release", release), ("run", nothing)])
    deployer.start()
    first, _ = submit(deployer, "sleeper1")
    assert sleeping.wait(WAIT_S)

    mine, my_deploy = submit(deployer, "newcomer")
    wait_until(lambda: read(deployer, Project, mine.id)["status"] == "running",
               "the newcomer's deploy went live")
    assert read(deployer, Deployment, my_deploy)["status"] == "succeeded"
    live = read(deployer, Project, mine.id)  # the outcome in fields of its own
    assert (live["deploy_step"], live["last_deploy_status"]) == (None, "succeeded")

    second, waiting = submit(deployer, "sleeper2")
    wait_until(lambda: read(deployer, Project, second.id)["status_reason"]
               == "waiting for a release slot", "the second release phase waits")
    assert read(deployer, Deployment, waiting)["step"] == "release"
    assert read(deployer, Project, second.id)["deploy_step"] == "release"  # waits to run it
    deployer.cancel(second.id, DELETED)  # no worker runs it: it ends without a release slot
    # (its worker may be between saying it waits and parking: then it ends a moment later)
    wait_until(lambda: read(deployer, Deployment, waiting)["status"] == "failed",
               "the cancelled deploy ended")
    ended = read(deployer, Deployment, waiting)
    assert (ended["status"], ended["reason"]) == ("failed", DELETED) and ended["finished_at"]
    assert not deployer.is_deploying(second.id)

    assert deployer.is_deploying(first.id), "the first one still sleeps"
    wake.set()
    wait_until(lambda: read(deployer, Project, first.id)["status"] == "running",
               "the sleeper's deploy went live once its release ended")

"""Scheduled jobs' rows (hostd.store.cron) on a real SQLite file (with --db postgres, a
real PostgreSQL database): a release's jobs by its image, the runs kept per job, the
failing jobs, and the scheduler's one query of what is due (hostd.control.cron)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from hostd.config import Settings
from hostd.control.cron import Scheduler
from hostd.store import cron, db, releases
from hostd.store.cron import Job
from hostd.store.models import CronRun, Project, ReleaseCron, RunStatus, User
from tests.plugins import postgres

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
A, B = Job("aaaaaaaa", "./a", "* * * * *"), Job("bbbbbbbb", "./b", "@daily", "forbid")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = postgres.new_database()
    made = db.make_engine(url or f"sqlite:///{tmp_path / 'hostd.db'}")
    db.migrate(made)
    with Session(made) as session:
        session.add(User(id="u1", email="a@example.com", name="A", handle="a",
                         password_hash="x"))
        session.commit()
        session.add(Project(id="p1", user_id="u1", name="shop", template="static",
                            github_url="https://example.com/r.git", image="img:1"))
        session.commit()
        project = session.get(Project, "p1")
        assert project is not None
        releases.record(session, project, image="img:1", env={}, commit=None, cause="deploy",
                        user_id="u1", processes={})
        session.commit()
    yield made
    made.dispose()


def a_run(job: Job, minute: int, status: RunStatus) -> CronRun:
    at = T0 + timedelta(minutes=minute)
    return CronRun(project_id="p1", job_id=job.id, scheduled_for=at, started_at=at,
                   finished_at=at + timedelta(seconds=5), status=status)


def test_a_releases_jobs_are_kept_by_its_image_and_the_unreleased_go(engine: Engine) -> None:
    with Session(engine) as session:
        cron.keep_jobs(session, "p1", "img:1", [A, B])
        cron.keep_jobs(session, "p1", "img:2", [B])  # a deploy that failed
        session.commit()
        cron.keep_jobs(session, "p1", "img:3", [A])  # the next deploy's build
        session.commit()
        kept = {row.image for row in session.exec(select(ReleaseCron))}
        assert kept == {"img:1", "img:3"}, "img:2 no release runs"
        assert cron.jobs_of_image(session, "p1", "img:1") == [A, B]
        assert cron.jobs_of_image(session, "p1", None) == []


def test_runs_are_pruned_per_job_and_failing_is_the_last_finished_one(engine: Engine) -> None:
    with Session(engine) as session:
        for minute, status in enumerate([RunStatus.ok, RunStatus.failed, RunStatus.skipped]):
            session.add(a_run(A, minute, status))
        session.add(a_run(B, 0, RunStatus.killed))
        session.add(a_run(B, 1, RunStatus.ok))
        session.commit()
        assert cron.failing_jobs(session, "p1", [A, B]) == [A.id], \
            "a skip says nothing of how the job fares"
        assert cron.last_runs(session, "p1")[A.id].status == RunStatus.skipped
        cron.prune(session, "p1", A.id, 2)
        session.commit()
        assert [r.status for r in cron.newest_runs(session, "p1", A.id, 10)] == \
            [RunStatus.skipped, RunStatus.failed]
        assert len(cron.newest_runs(session, "p1", B.id, 10)) == 2, "per job"
        project = session.get(Project, "p1")
        assert project is not None
        assert cron.set_failing(session, project, [A.id]) is True
        session.commit()
        assert cron.set_failing(session, project, [A.id]) is False


def test_the_scheduler_reads_the_projects_meant_to_run_with_jobs(engine: Engine,
                                                                 tmp_path: Path) -> None:
    scheduler = Scheduler(Settings(_env_file=None, HOSTD_DATA_DIR=str(tmp_path)), engine,
                          runner=None)  # type: ignore[arg-type]  # _scheduled needs none
    assert scheduler._scheduled() == []
    with Session(engine) as session:
        cron.keep_jobs(session, "p1", "img:1", [A])
        session.commit()
    ((project, owner, jobs, released),) = scheduler._scheduled()
    assert (project.id, owner.id, jobs) == ("p1", "u1", [A])
    assert released.tzinfo is not None
    with Session(engine) as session:
        stopped = session.get(Project, "p1")
        assert stopped is not None
        stopped.desired_status = "stopped"
        session.add(stopped)
        session.commit()
    assert scheduler._scheduled() == []

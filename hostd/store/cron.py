"""Scheduled jobs' rows: a release's jobs (kept by its image), each run of a job, and the
project's failing jobs. The caller commits, unless a function says otherwise."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from hostd.store.models import (
    FAILING_STATUSES,
    CronRun,
    CronRunPublic,
    CronRunWithLog,
    Project,
    Release,
    ReleaseCron,
)

ID_LENGTH = 8


@dataclass(frozen=True)
class Job:
    id: str
    command: str
    schedule: str
    concurrency_policy: str = "allow"
    maintenance: bool = False  # suspended: not run at its times (`cron run` still runs it)


def job_id(command: str, schedule: str) -> str:
    """A job's id: a short hash of its schedule and command, as Dokku derives its cron
    ids from them, so the same entry keeps its id (and its runs) across releases."""
    digest = hashlib.sha256(f"{schedule}\n{command}".encode()).hexdigest()
    return digest[:ID_LENGTH]


def keep_jobs(session: Session, project_id: str, image: str, jobs: list[Job]) -> None:
    """The jobs of the releases that will run `image` (a deploy's, before its switch)."""
    row = session.get(ReleaseCron, (project_id, image)) or \
        ReleaseCron(project_id=project_id, image=image)
    row.jobs_json = json.dumps([asdict(job) for job in jobs])
    session.add(row)
    # The jobs of images no release runs go (failed deploys'): one row per release at most.
    released = select(Release.image).where(Release.project_id == project_id)
    session.exec(delete(ReleaseCron).where(
        col(ReleaseCron.project_id) == project_id, col(ReleaseCron.image) != image,
        col(ReleaseCron.image).not_in(released)))


def jobs_of_image(session: Session, project_id: str, image: str | None) -> list[Job]:
    if image is None:
        return []
    row = session.get(ReleaseCron, (project_id, image))
    return parse_jobs(row.jobs_json) if row is not None else []


def parse_jobs(jobs_json: str) -> list[Job]:
    return [Job(**entry) for entry in json.loads(jobs_json)]


def release_jobs(session: Session, release: Release) -> list[Job]:
    return jobs_of_image(session, release.project_id, release.image)


# --- runs ---------------------------------------------------------------------------------


def last_runs(session: Session, project_id: str) -> dict[str, CronRun]:
    """Each job's newest run of the project (any status), by job id."""
    runs = session.exec(select(CronRun).where(CronRun.project_id == project_id)
                        .order_by(col(CronRun.scheduled_for), col(CronRun.started_at))).all()
    return {run.job_id: run for run in runs}


def newest_runs(session: Session, project_id: str, job: str, limit: int) -> list[CronRun]:
    query = (select(CronRun).where(CronRun.project_id == project_id, CronRun.job_id == job)
             .order_by(col(CronRun.scheduled_for).desc(), col(CronRun.started_at).desc())
             .limit(limit))
    return list(session.exec(query))


def prune(session: Session, project_id: str, job: str, kept: int) -> None:
    """Only the job's newest `kept` runs stay. The rows removed are those seen beyond
    them, by id: a run another thread records meanwhile (a replace's new run while the
    run it stopped is recorded) is never among them."""
    older = (select(CronRun.id).where(CronRun.project_id == project_id, CronRun.job_id == job)
             .order_by(col(CronRun.scheduled_for).desc(), col(CronRun.started_at).desc())
             .offset(kept))
    ids = list(session.exec(older))
    if ids:
        session.exec(delete(CronRun).where(col(CronRun.id).in_(ids)))


def unfinished(session: Session) -> list[CronRun]:
    return list(session.exec(select(CronRun).where(CronRun.finished_at == None)))  # noqa: E711


def failing_jobs(session: Session, project_id: str, jobs: list[Job]) -> list[str]:
    """Of `jobs`, those whose last finished run failed or was killed."""
    finished = [run for run in session.exec(
        select(CronRun).where(CronRun.project_id == project_id,
                              col(CronRun.finished_at).is_not(None),
                              col(CronRun.status).not_in(["skipped", "missed"]))
        .order_by(col(CronRun.finished_at)))]
    last = {run.job_id: run.status for run in finished}
    return [job.id for job in jobs if last.get(job.id) in FAILING_STATUSES]


def set_failing(session: Session, project: Project, failing: list[str]) -> bool:
    """Whether the project's failing jobs changed (then the caller commits)."""
    text = json.dumps(failing)
    if project.cron_failing_json == text:
        return False
    project.cron_failing_json = text
    session.add(project)
    return True


def to_public(run: CronRun) -> CronRunPublic:
    return CronRunPublic(id=run.id, job=run.job_id, trigger=run.trigger,
                         scheduled_for=run.scheduled_for, started_at=run.started_at,
                         finished_at=run.finished_at, status=run.status,
                         exit_code=run.exit_code, reason=run.reason)


def with_log(run: CronRun) -> CronRunWithLog:
    return CronRunWithLog(**to_public(run).model_dump(), log=run.log_tail.splitlines())


def when(value: datetime) -> str:
    """A time for people: `2026-12-07 23:59 UTC`."""
    return value.strftime("%Y-%m-%d %H:%M UTC")

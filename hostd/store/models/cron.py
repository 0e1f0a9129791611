"""Scheduled jobs (issue 26): a release's app.json `cron` entries, each run of one, and
their public shapes.

A release's jobs are kept by its image (`release_cron`): every deploy builds an image of
its own, a config change keeps the image (and so the jobs), a rollback to vN runs vN's
image (and so vN's jobs), with no column to copy. Each run of a job is a `cron_runs` row:
when it was due, when it ran, how it ended, and the tail of its output.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, field_serializer
from sqlmodel import Field, SQLModel

from hostd.store.models.common import iso_utc, new_id, utcnow


class RunStatus(StrEnum):
    running = "running"
    ok = "ok"  # exited 0
    failed = "failed"  # exited non-zero, or could not start
    killed = "killed"  # past its time limit, replaced, or hostd/the engine went away
    skipped = "skipped"  # not started: concurrency_policy forbid, or the user's cap
    missed = "missed"  # times that passed while hostd or the engine was down


FAILING_STATUSES = (RunStatus.failed, RunStatus.killed)  # a job whose last run ended so is failing


class ReleaseCron(SQLModel, table=True):
    """The cron jobs of the releases that run `image` (its app.json's, checked)."""

    __tablename__ = "release_cron"

    project_id: str = Field(foreign_key="projects.id", primary_key=True, ondelete="CASCADE")
    image: str = Field(primary_key=True, max_length=200)
    jobs_json: str = Field(default="[]", max_length=400_000)  # [{id, command, schedule, …}]
    created_at: datetime = Field(default_factory=utcnow)


class CronRun(SQLModel, table=True):
    __tablename__ = "cron_runs"

    id: str = Field(default_factory=new_id, primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    job_id: str = Field(max_length=16, index=True)
    trigger: str = Field(default="schedule", max_length=16)  # or "manual" (cron run)
    scheduled_for: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    status: str = Field(default=RunStatus.running, max_length=16)
    reason: str | None = Field(default=None, max_length=2000)  # for people
    log_tail: str = Field(default="", max_length=1_000_000)
    container_id: str | None = Field(default=None, max_length=80)


class CronRunPublic(BaseModel):
    id: str
    job: str
    trigger: str
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime | None
    status: RunStatus
    exit_code: int | None
    reason: str | None

    @field_serializer("scheduled_for", "started_at", "finished_at")
    def _times(self, value: datetime | None) -> str | None:
        return iso_utc(value) if value is not None else None


class CronRunWithLog(CronRunPublic):
    log: list[str]  # its output's last lines (bounded, HOSTD_CRON_LOG_KB)


class CronJobPublic(BaseModel):
    id: str  # a short hash of schedule and command: the same job keeps it across releases
    command: str
    schedule: str
    concurrency_policy: str
    maintenance: bool  # suspended (app.json): not run at its times, only by hand
    last_run: CronRunPublic | None
    next_run: datetime | None  # None while the project is not meant to run, or suspended
    running: int  # its runs under way now

    @field_serializer("next_run")
    def _next(self, value: datetime | None) -> str | None:
        return iso_utc(value) if value is not None else None


class CronJobList(BaseModel):
    jobs: list[CronJobPublic]


class CronRunList(BaseModel):
    job: str
    runs: list[CronRunWithLog]  # newest first


class CronRunStarted(BaseModel):
    run: CronRunPublic


class CronSummary(BaseModel):
    """On the project: the jobs whose last run failed (or was killed), by id."""

    failing: list[str] = []

"""Processes (issue 26): what an app runs besides its release, one row per replica.

A release names its process types (`Release.processes_json`); the project's formation
says how many replicas of each should run (`Project.formation_json`: only the types its
owner set; `web` defaults to 1, every other type to 0, as Heroku's). Each replica the
runtime runs is a `ProcessReplica` row: the router takes its `web` rows that are
`serving`, the supervisor keeps each one's restarts and last exit.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Field, SQLModel, UniqueConstraint

from hostd.store.models.common import utcnow

DEFAULT_QUANTITY = {"web": 1}  # any other type: 0 until its owner scales it


class ProcessReplica(SQLModel, table=True):
    """One replica (one container) of one process type of a project: `web.1`, `worker.2`."""

    __tablename__ = "process_replicas"
    __table_args__ = (UniqueConstraint("project_id", "process", "number", "release_version",
                                       name="uq_replica_slot"),)

    id: str = Field(primary_key=True, max_length=80)  # the runtime's replica id
    project_id: str = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    process: str = Field(max_length=32)  # its type: web, worker, …
    number: int  # 1-based, per type: the `1` of `web.1`
    release_version: int | None = None  # the release it runs
    host_port: int | None = None  # where the router reaches a web replica
    serving: bool = False  # a web replica the router may send new requests to
    created_at: datetime = Field(default_factory=utcnow)
    # Supervision, per replica (hostd.control.supervisor); summed on the project.
    restarts: int = 0
    crash_streak: int = 0
    running_since: datetime | None = None
    last_exit_code: int | None = None
    last_exit_oom: bool = False
    last_exit_at: datetime | None = None


class ProcessPublic(BaseModel):
    """One replica as `GET /api/projects/:id/processes` shows it (`hostctl ps`)."""

    name: str  # web.1, worker.2
    type: str
    number: int
    state: str  # running | starting | crashed | stopped | gone (the engine's, in short)
    restarts: int
    release: int | None
    serving: bool
    running_since: datetime | None
    uptime_s: float | None
    cpu: float | None  # percent of one core
    memory: float | None  # MB
    last_exit_code: int | None = None


class FormationResponse(BaseModel):
    """The formation (every type of the current release, quantity) and its replicas."""

    formation: dict[str, int]
    processes: list[ProcessPublic]
    message: str | None = None

"""Deployments and releases: the tables, their public shapes, rollback's body, and
the answers that carry them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, field_serializer
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel, UniqueConstraint

from hostd.store.models.common import _Body, iso_utc, new_id, utcnow
from hostd.store.models.projects import ProjectPublic


class DeploymentStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    interrupted = "interrupted"


class Deployment(SQLModel, table=True):
    """One attempt to deploy a project; its build log is a file in the data dir."""

    __tablename__ = "deployments"

    id: str = Field(default_factory=new_id, primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    status: str = Field(default=DeploymentStatus.running, max_length=16)
    step: str | None = Field(default=None, max_length=32)
    commit: str | None = Field(default=None, max_length=64)
    image: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class Release(SQLModel, table=True):
    """What a project ran at one point: an image and its config vars, numbered per
    project from 1 (Heroku's model: the history only grows; a rollback is a new one)."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("project_id", "version", name="uq_releases_version"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    project_id: str = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    version: int
    image: str = Field(max_length=200)
    env_json: str = Field(default="{}", max_length=10_000_000)  # the config vars then
    commit: str | None = Field(default=None, max_length=64)
    cause: str = Field(max_length=300)
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    # Its process types → commands (the Procfile's, `release:` aside); {} before they
    # were recorded (schema v9) and when the image's own command is the only process.
    # A server default: schema v4 inserts releases without it (into today's table).
    processes_json: str = Field(default="{}", max_length=1_000_000,
                                sa_column_kwargs={"server_default": "{}"})


class ReleasePublic(BaseModel):
    version: int
    image: str
    commit: str | None
    cause: str
    created_at: datetime
    current: bool
    processes: dict[str, str] = {}

    @field_serializer("created_at")
    def _created_at(self, value: datetime) -> str:
        return iso_utc(value)


class ReleaseList(BaseModel):
    releases: list[ReleasePublic]


class RollbackResponse(BaseModel):
    release: ReleasePublic
    message: str


class DeploymentPublic(BaseModel):
    id: str
    status: DeploymentStatus
    step: str | None
    commit: str | None
    image: str | None
    reason: str | None
    started_at: datetime
    finished_at: datetime | None

    @field_serializer("started_at", "finished_at")
    def _times(self, value: datetime | None) -> str | None:
        return iso_utc(value) if value else None

    @classmethod
    def of(cls, row: Deployment) -> DeploymentPublic:
        return cls.model_validate(row, from_attributes=True)


class RollbackBody(_Body):
    """`{}`: back to the release before the current one; `{"version": N}`: to vN."""

    version: int | None = PydanticField(default=None, ge=1, le=1_000_000)


class SourceUploaded(BaseModel):
    """`PUT /api/projects/:id/source`: the project, the deployment the upload started
    (None when the content was unchanged) and what happened."""

    project: ProjectPublic
    deployment: DeploymentPublic | None = None
    message: str


class DeploymentList(BaseModel):
    deployments: list[DeploymentPublic]


class LogLines(BaseModel):
    source: str
    lines: list[str]
    # Runtime logs: the process each line came from (`web.1`, `worker.2`), line by line.
    processes: list[str] | None = None

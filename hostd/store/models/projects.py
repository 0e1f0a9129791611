"""Projects: the tables (a project, its config vars, the deleted ones), the public
shape the API returns, and the bodies and answers of the project routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel, UniqueConstraint

from hostd.store import validation
from hostd.store.models.common import (
    DesiredStatus,
    ProjectSource,
    ProjectStatus,
    _Body,
    iso_utc,
    new_id,
    utcnow,
)
from hostd.store.models.cron import CronSummary
from hostd.templates import Template


class Project(SQLModel, table=True):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_projects_user_name"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=40)
    template: str = Field(max_length=16)
    github_url: str = Field(max_length=2048)
    status: str = Field(default=ProjectStatus.deploying, max_length=16)
    status_reason: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    # Set by the deploy pipeline; never part of the public shape.
    container_id: str | None = Field(default=None, max_length=80)
    host_port: int | None = None
    image: str | None = Field(default=None, max_length=200)
    # Supervision (hostd.control.supervisor): what should run, and how the app has fared.
    desired_status: str = Field(default=DesiredStatus.running, max_length=16)
    restarts: int = 0  # crash restarts since the release went live
    crash_streak: int = 0  # crashes in a row; the backoff grows with it
    running_since: datetime | None = None
    last_exit_code: int | None = None
    last_exit_oom: bool = False
    last_exit_at: datetime | None = None
    release_version: int | None = None  # the current release (hostd.store.releases)
    health_path: str = Field(default="/", max_length=200)  # GET here: below 500 is healthy
    # Where its code comes from, one column per fact: a git clone of `github_url`, or
    # hostctl up's uploads (`github_url` is then empty), the current one's sha256.
    source: str = Field(default=ProjectSource.git, max_length=16)
    upload_digest: str | None = Field(default=None, max_length=64)
    # Deploys (hostd.control.deployer): the step of the one under way (None when none
    # runs), and how the last one to finish ended; `status_reason` is their prose.
    deploy_step: str | None = Field(default=None, max_length=32)
    last_deploy_status: str | None = Field(default=None, max_length=16)
    last_deploy_reason: str | None = Field(default=None, max_length=2000)
    # Replicas per process type that its owner set ({"web": 3, "worker": 1}); a type
    # not named runs its default (hostd.store.models.processes.DEFAULT_QUANTITY).
    formation_json: str = Field(default="{}", max_length=10_000,
                                sa_column_kwargs={"server_default": "{}"})
    # Scheduled jobs (hostd.control.cron): the ids of those whose last run failed.
    cron_failing_json: str = Field(default="[]", max_length=10_000,
                                   sa_column_kwargs={"server_default": "[]"})


class ProjectEnv(SQLModel, table=True):
    """One config var of a project: an environment variable of its container."""

    __tablename__ = "project_env"

    project_id: str = Field(foreign_key="projects.id", primary_key=True, ondelete="CASCADE")
    name: str = Field(primary_key=True, max_length=128)
    value: str = Field(max_length=32768)


class DeletedProject(SQLModel, table=True):
    """A project this install deleted. What the engine still holds of it (a container a
    cut-short deploy left) is this install's to remove: the reconciler takes only what
    names a project of its own database, here or in `projects` (hostd.control.ownership)."""

    __tablename__ = "deleted_projects"

    project_id: str = Field(primary_key=True, max_length=32)
    deleted_at: datetime = Field(default_factory=utcnow)


class ProcessMetrics(BaseModel):
    """One process type's share of a project's metrics: its replicas, summed."""

    replicas: int
    cpu: float
    memory: float


class Metrics(BaseModel):
    cpu: float = 0.0  # every replica's, summed
    memory: float = 0.0
    requests: int = 0
    # By process type (issue 26); left out of a project that was never measured.
    processes: dict[str, ProcessMetrics] | None = PydanticField(
        default=None, exclude_if=lambda value: value is None)


class LastExit(BaseModel):
    """How the app's container last ended on its own (a crash, an OOM kill, a signal)."""

    code: int | None
    signal: str | None
    oom_killed: bool
    at: datetime

    @field_serializer("at")
    def _at(self, value: datetime) -> str:
        return iso_utc(value)


class LastDeploy(BaseModel):
    """How the last deploy to finish ended: `succeeded`, `failed` (a redeploy that failed
    leaves the old release serving: the project stays `running`) or `interrupted` (hostd
    stopped during it); `reason` says why it did not succeed."""

    status: str
    reason: str | None = None


class ProjectPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    userId: str
    name: str
    status: ProjectStatus
    status_reason: str | None
    url: str
    template: Template
    github_url: str
    created_at: datetime
    metrics: Metrics
    desired_status: DesiredStatus = DesiredStatus.running
    restarts: int = 0
    last_exit: LastExit | None = None
    release: int | None = None
    health_path: str = "/"
    # A deploy of it is queued or under way; a running project stays `running` meanwhile.
    deploying: bool = False
    # The step of the deploy under way, named as in hostd.control.steps (`queued`,
    # `clone`, `unpack`, `build`, `release`, `run`, `health_check`, `switch`; while it
    # waits for a worker, the step it waits to run); None when none runs.
    deploy_step: str | None = None
    last_deploy: LastDeploy | None = None
    source: ProjectSource = ProjectSource.git
    upload_digest: str | None = None  # the sha256 of an upload project's current source
    cron: CronSummary = PydanticField(default_factory=CronSummary)  # its failing jobs

    @field_serializer("created_at")
    def _created_at(self, value: datetime) -> str:
        return iso_utc(value)


class ProjectCreate(_Body):
    """`{name, github_url, template}`, or `{name, template, source: "upload"}` for a
    project whose code comes from `PUT /api/projects/:id/source` (hostctl up)."""

    # Config var values may be long (32 KiB); every other field has its own limit.
    model_config = ConfigDict(strict=True, str_max_length=32768)
    name: str = PydanticField(max_length=4096)
    # "" when absent: a JSON null is still a type error naming the field.
    github_url: str = PydanticField("", max_length=validation.URL_MAX)
    template: Template = PydanticField(strict=False)
    source: Literal["upload"] | None = None
    env: dict[str, str] = PydanticField(default_factory=dict, max_length=200)
    health_path: str = "/"
    # The first formation ({"worker": 1}, `--scale worker=1`), as app.json's would be.
    formation: dict[str, int] = PydanticField(default_factory=dict, max_length=64)

    _name = field_validator("name")(validation.check_project_name)
    _health_path = field_validator("health_path")(validation.check_health_path)
    _formation = field_validator("formation")(validation.check_formation)

    @model_validator(mode="after")
    def _one_source(self) -> ProjectCreate:
        if self.source is None and not self.github_url:
            raise ValueError('github_url is required (or source: "upload" for hostctl up)')
        if self.source is not None and self.github_url:
            raise ValueError('give either github_url or source: "upload", not both')
        return self


class ProjectPatch(_Body):
    """`PATCH /api/projects/:id`: the settings a project's owner may change."""

    health_path: str

    _health_path = field_validator("health_path")(validation.check_health_path)


class StatusBody(_Body):
    status: str


class EnvPatch(_Body):
    """A JSON merge of config vars: a string sets the variable, null removes it."""

    model_config = ConfigDict(strict=True, str_max_length=32768)
    env: dict[str, str | None] = PydanticField(max_length=200)


class EnvResponse(BaseModel):
    env: dict[str, str]


class EnvChanged(EnvResponse):
    message: str


class ProjectResponse(BaseModel):
    project: ProjectPublic


class ProjectList(BaseModel):
    projects: list[ProjectPublic]


class ContainerStatus(BaseModel):
    status: ProjectStatus
    status_reason: str | None = None



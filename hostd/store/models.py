"""The tables, and the public shapes the API returns.

A model family per entity: `Base` fields, the table, the `Create` body and the
`Public` response. Routes return only public models, so a password hash or an
internal column (container id, host port) can never reach a response.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel, UniqueConstraint

from hostd.store import validation
from hostd.templates import Template


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; every one we store is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    return as_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


class ProjectStatus(StrEnum):
    running = "running"
    stopped = "stopped"
    deploying = "deploying"
    error = "error"


class DesiredStatus(StrEnum):
    """What the owner asked for; `status` is what hostd observes."""

    running = "running"
    stopped = "stopped"


# --- users ---------------------------------------------------------------------------

class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True)
    email: str = Field(unique=True, index=True, max_length=254)
    name: str = Field(max_length=100)
    handle: str = Field(unique=True, index=True, max_length=40)
    password_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    # Revoking all of a user's tokens at once (hostd.store.auth): tokens of an older
    # generation are refused, but the one whose jti is kept.
    token_generation: int = Field(default=0)
    kept_jti: str | None = Field(default=None, max_length=64)


class UserPublic(BaseModel):
    id: str
    email: str
    name: str
    handle: str

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(id=user.id, email=user.email, name=user.name, handle=user.handle)


class RevokedToken(SQLModel, table=True):
    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(index=True)


# --- projects ------------------------------------------------------------------------

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


class ProjectEnv(SQLModel, table=True):
    """One config var of a project: an environment variable of its container."""

    __tablename__ = "project_env"

    project_id: str = Field(foreign_key="projects.id", primary_key=True, ondelete="CASCADE")
    name: str = Field(primary_key=True, max_length=128)
    value: str = Field(max_length=32768)


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


class DeletedProject(SQLModel, table=True):
    """A project this install deleted. What the engine still holds of it (a container a
    cut-short deploy left) is this install's to remove: the reconciler takes only what
    names a project of its own database, here or in `projects` (hostd.control.ownership)."""

    __tablename__ = "deleted_projects"

    project_id: str = Field(primary_key=True, max_length=32)
    deleted_at: datetime = Field(default_factory=utcnow)


class ReleasePublic(BaseModel):
    version: int
    image: str
    commit: str | None
    cause: str
    created_at: datetime
    current: bool

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


class Metrics(BaseModel):
    cpu: float = 0.0
    memory: float = 0.0
    requests: int = 0


class LastExit(BaseModel):
    """How the app's container last ended on its own (a crash, an OOM kill, a signal)."""

    code: int | None
    signal: str | None
    oom_killed: bool
    at: datetime

    @field_serializer("at")
    def _at(self, value: datetime) -> str:
        return iso_utc(value)


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

    @field_serializer("created_at")
    def _created_at(self, value: datetime) -> str:
        return iso_utc(value)


# --- request bodies ------------------------------------------------------------------

class _Body(BaseModel):
    # Strict strings: a number where text belongs is a 400, not a silent conversion.
    model_config = ConfigDict(strict=True, str_max_length=4096)


class RegisterBody(_Body):
    email: str
    password: str
    name: str

    _email = field_validator("email")(validation.normalize_email)
    _password = field_validator("password")(validation.check_password)
    _name = field_validator("name")(validation.normalize_person_name)


class LoginBody(_Body):
    email: str
    password: str = PydanticField(max_length=1024)

    _email = field_validator("email")(validation.normalize_email)


class PasswordChange(_Body):
    """`{current_password, new_password}`; the new one is checked as at registration."""

    current_password: str = PydanticField(max_length=1024)
    new_password: str

    _new_password = field_validator("new_password")(validation.check_password)


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

    _name = field_validator("name")(validation.check_project_name)
    _health_path = field_validator("health_path")(validation.check_health_path)

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


class RollbackBody(_Body):
    """`{}`: back to the release before the current one; `{"version": N}`: to vN."""

    version: int | None = PydanticField(default=None, ge=1, le=1_000_000)


class EnvPatch(_Body):
    """A JSON merge of config vars: a string sets the variable, null removes it."""

    model_config = ConfigDict(strict=True, str_max_length=32768)
    env: dict[str, str | None] = PydanticField(max_length=200)


class EnvResponse(BaseModel):
    env: dict[str, str]


class EnvChanged(EnvResponse):
    message: str


class AuthResponse(BaseModel):
    user: UserPublic
    token: str


class UserResponse(BaseModel):
    user: UserPublic


class ProjectResponse(BaseModel):
    project: ProjectPublic


class SourceUploaded(BaseModel):
    """`PUT /api/projects/:id/source`: the project, the deployment the upload started
    (None when the content was unchanged) and what happened."""

    project: ProjectPublic
    deployment: DeploymentPublic | None = None
    message: str


class ProjectList(BaseModel):
    projects: list[ProjectPublic]


class Message(BaseModel):
    message: str


class DeploymentList(BaseModel):
    deployments: list[DeploymentPublic]


class ContainerStatus(BaseModel):
    status: ProjectStatus
    status_reason: str | None = None


class LogLines(BaseModel):
    source: str
    lines: list[str]

"""What every entity's models share: ids, UTC times, the status words, the strict body."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


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


class ProjectSource(StrEnum):
    """Where a project's code comes from: a git repository, or hostctl up's uploads."""

    git = "git"
    upload = "upload"


class DeployOutcome(StrEnum):
    """How a project's last deploy ended (its `last_deploy.status`)."""

    succeeded = "succeeded"
    failed = "failed"
    interrupted = "interrupted"


class DesiredStatus(StrEnum):
    """What the owner asked for; `status` is what hostd observes."""

    running = "running"
    stopped = "stopped"


class _Body(BaseModel):
    # Strict strings: a number where text belongs is a 400, not a silent conversion.
    model_config = ConfigDict(strict=True, str_max_length=4096)



class Message(BaseModel):
    message: str


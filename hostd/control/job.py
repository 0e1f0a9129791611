"""One deploy's job: what it deploys, what it has made so far, and how it ends early.

A step fails with `StepFailed(reason)`, a sentence a person can act on; a job whose
CancelScope fired ends with `Cancelled` (its project deleted, or superseded).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from hostd.control.buildlog import BuildLog
from hostd.control.cancel import CancelScope

log = logging.getLogger("hostd.deploy")



class StepFailed(Exception):
    """A step could not finish; the message is the project's status_reason."""


class Cancelled(Exception):
    """The deploy was cancelled (its project deleted, or a newer deploy superseded it);
    the message says why."""


DELETED = "the project was deleted"
SUPERSEDED = "superseded by a new deploy"


@dataclass
class DeployJob:
    project_id: str
    user_id: str
    deployment_id: str
    name: str
    handle: str
    repo_url: str
    template: str
    workdir: Path
    log: BuildLog
    commit: str | None = None
    image: str | None = None
    container_id: str | None = None
    host_port: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    stage_images: list[str] = field(default_factory=list)  # this build's leftovers
    cancel: CancelScope = field(default_factory=CancelScope)  # delete, redeploy, deadline

    @property
    def repo_dir(self) -> Path:
        return self.workdir / "repo"

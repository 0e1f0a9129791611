"""One deploy's job: what it deploys, what it has made so far, and how it ends early;
and the JobContext its steps run in (what every job shares).

A step fails with `StepFailed(reason)`, a sentence a person can act on; a job whose
CancelScope fired ends with `Cancelled` (its project deleted, or superseded).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from hostd.config import Settings
from hostd.control.buildlog import BuildLog
from hostd.control.cancel import CancelScope
from hostd.control.changes import ChangeLocks
from hostd.control.formation import Formation
from hostd.control.retire import Retirer
from hostd.control.runtime import WEB, Runtime
from hostd.control.status import StatusBoard

log = logging.getLogger("hostd.deploy")


class StepFailed(Exception):
    """A step could not finish; the message is the project's status_reason."""


class Cancelled(Exception):
    """The deploy was cancelled (its project deleted, or a newer deploy superseded it);
    the message says why."""


DELETED = "the project was deleted"
SUPERSEDED = "superseded by a new deploy"


@dataclass(frozen=True)
class JobContext:
    """What a deploy step may use besides its job: built once by the Deployer."""

    settings: Settings
    runtime: Runtime
    db: Engine
    board: StatusBoard
    retirer: Retirer
    changes: ChangeLocks
    formation: Formation  # every process type but web.1 (hostd.control.formation)


@dataclass
class DeployJob:
    project_id: str
    user_id: str
    deployment_id: str
    name: str
    handle: str
    repo_url: str  # a git project's; an upload project's is empty
    template: str
    workdir: Path
    log: BuildLog
    commit: str | None = None
    image: str | None = None
    container_id: str | None = None  # the new container, the project's once switched
    host_port: int | None = None
    serving_before: str | None = None  # the project's running container, kept until the switch
    serving_port: int | None = None  # and its port on 127.0.0.1
    # The project runs a release without web (its other types) and keeps it until the
    # switch: a redeploy of it, as of one serving, reads `running` and fails changing nothing.
    running_without_web: bool = False
    release_command: str | None = None  # the Procfile's `release:`, run before `run`
    processes: dict[str, str] = field(default_factory=dict)  # the Procfile's types → commands
    app_formation: dict[str, int] = field(default_factory=dict)  # app.json's first formation
    web_quantity: int | None = None  # web's, as its owner (or else app.json) set it
    pending_web: list[str] = field(default_factory=list)  # web.2… started, not switched to
    release_version: int | None = None  # the release it made, once switched
    next_step: int = 0  # of its steps, the one to run next (a job walks them in stages)
    # Frees the job's place in the queue (set by the worker that runs it): called just
    # before its last status write, so once a client sees that status the project is no
    # longer `deploying` to hostd either.
    finished: Callable[[], None] | None = None
    health_path: str = "/"
    source: str = "git"  # or "upload": unpack the archive of `upload_digest` (its sha256)
    upload_digest: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    stage_images: list[str] = field(default_factory=list)  # this build's leftovers
    cancel: CancelScope = field(default_factory=CancelScope)  # delete, redeploy, deadline

    @property
    def serving(self) -> bool:
        """A release runs (web or not) and serves on until the switch."""
        return self.serving_before is not None or self.running_without_web

    @property
    def has_web(self) -> bool:
        """No Procfile: the image's own command is `web`; a Procfile may have none, and
        its owner may have scaled it to 0 (the formation outlives deploys)."""
        return self.has_web_type and self.web_quantity != 0

    @property
    def has_web_type(self) -> bool:
        return not self.processes or WEB in self.processes

    @property
    def repo_dir(self) -> Path:
        return self.workdir / "repo"

"""The JSON shapes hostd answers, as typed dicts (hostctl.client returns them).

Fields a daemon added later are NotRequired: an older daemon omits them.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

ContainerAction = Literal["start", "stop", "restart"]
LogSource = Literal["build", "runtime"]
DesiredStatus = Literal["running", "stopped"]


class User(TypedDict):
    id: str
    email: str
    name: str
    handle: str


class Metrics(TypedDict):
    cpu: float
    memory: float
    requests: int


class LastExit(TypedDict):
    """How the app's container last ended on its own (a crash, an OOM kill, a signal)."""

    code: int | None
    signal: str | None  # e.g. "SIGKILL", named from a code above 128
    oom_killed: bool
    at: str  # ISO 8601, UTC


class LastDeploy(TypedDict):
    status: str  # "succeeded", "failed" (the old release serves on) or "interrupted"
    reason: str | None


class CronSummary(TypedDict):
    failing: list[str]  # the ids of the cron jobs whose last run failed (or was killed)


class Project(TypedDict):
    id: str
    userId: str
    name: str
    status: str
    status_reason: str | None
    url: str
    template: str
    github_url: str
    created_at: str
    metrics: Metrics
    # Supervision: NotRequired because daemons before it omit them.
    desired_status: NotRequired[DesiredStatus]  # what the owner asked for; status is observed
    restarts: NotRequired[int]  # crash restarts since the release went live
    last_exit: NotRequired[LastExit | None]
    release: NotRequired[int | None]  # the current release's version; None before the first
    # What hostd GETs to call a new container healthy (below 500 is); "/" when absent.
    health_path: NotRequired[str]
    deploying: NotRequired[bool]  # a deploy is queued or under way (status may stay running)
    # The step of the deploy under way (hostd.control.steps' names), None when none runs.
    deploy_step: NotRequired[str | None]
    last_deploy: NotRequired[LastDeploy | None]  # how the last deploy to finish ended
    source: NotRequired[Literal["git", "upload"]]  # where the code comes from
    upload_digest: NotRequired[str | None]  # an upload project's current source (sha256)
    cron: NotRequired[CronSummary]  # scheduled jobs (issue 26)


class Deployment(TypedDict):
    id: str
    status: str
    commit: str | None
    image: str | None
    started_at: str | None
    finished_at: str | None
    reason: str | None


class Release(TypedDict):
    """What the project ran at one point: an image and its config vars, numbered from 1.

    The history only grows: a config change, a deploy and a rollback each add one.
    """

    version: int
    image: str
    commit: str | None  # the deployed commit, when hostd knows it
    cause: str  # "deploy 3f2a1c9", "env: set FOO", "rollback to v1"
    created_at: str  # ISO 8601, UTC
    current: bool
    processes: NotRequired[dict[str, str]]  # its process types → commands (issue 26)


class RollbackResult(TypedDict):
    """What a rollback answers: the new release (current now) and what happened."""

    release: Release
    message: str


class AuthResult(TypedDict):
    user: User
    token: str


class EnvUpdate(TypedDict):
    """What a PATCH of the config vars answers: the whole map after it, and what happened."""

    env: dict[str, str]
    message: str


class CronRun(TypedDict):
    """One run of a scheduled job (or a time it skipped or missed)."""

    id: str
    job: str
    trigger: str  # "schedule" or "manual"
    scheduled_for: str  # ISO 8601, UTC
    started_at: str | None
    finished_at: str | None
    status: str  # running | ok | failed | killed | skipped | missed
    exit_code: int | None
    reason: str | None
    log: NotRequired[list[str]]  # its output's last lines (in a job's runs)


class CronJob(TypedDict):
    """A scheduled job of the project's current release (its app.json `cron`)."""

    id: str
    command: str
    schedule: str
    concurrency_policy: str  # allow | forbid | replace
    maintenance: NotRequired[bool]  # suspended: run only by hand
    last_run: CronRun | None
    next_run: str | None  # None while the project is stopped
    running: int


class ProcessInfo(TypedDict):
    """One replica of a process type, as `GET /api/projects/:id/processes` gives it."""

    name: str  # web.1, worker.2
    type: str
    number: int
    state: str
    restarts: int
    release: int | None
    serving: bool
    uptime_s: float | None
    cpu: float | None
    memory: float | None


class FormationResult(TypedDict):
    """What a scale answers: each type's quantity now, the replicas, what happened."""

    formation: dict[str, int]
    processes: list[ProcessInfo]
    message: str | None

"""Project records: create, list, look up for their owner, delete, and the public view."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hostd.errors import Conflict, NotFound, ValidationError
from hostd.store import addresses, configvars, localrepo, validation
from hostd.store.metrics import MetricsStore
from hostd.store.models import (
    CronSummary,
    DesiredStatus,
    LastDeploy,
    LastExit,
    Metrics,
    Project,
    ProjectCreate,
    ProjectPublic,
    ProjectSource,
    ProjectStatus,
    Template,
    User,
    new_id,
)
from hostd.store.rows import Row, Rows

log = logging.getLogger("hostd.projects")


def project_url(name: str, handle: str, router_port: int, apps_domain: str | None = None) -> str:
    """Under HOSTD_APPS_DOMAIN when set, else `localhost`; the port unless it is 80."""
    port = "" if router_port == 80 else f":{router_port}"
    return f"http://{name}.{handle}.{apps_domain or 'localhost'}{port}"


def last_exit(code: int | None, oom: bool, at: datetime | None) -> LastExit | None:
    """The public shape of a recorded exit; a code above 128 names the signal."""
    if at is None:
        return None
    signal_name = None
    if code is not None and 128 < code < 128 + 65:
        with contextlib.suppress(ValueError):
            signal_name = signal.Signals(code - 128).name
    return LastExit(code=code, signal=signal_name, oom_killed=oom, at=at)


def last_deploy(status: str | None, reason: str | None) -> LastDeploy | None:
    return LastDeploy.model_construct(status=status, reason=reason) if status is not None else None


def cron_summary(failing_json: str) -> CronSummary:
    return CronSummary.model_construct(failing=[str(job) for job in json.loads(failing_json)])


def public_github_url(source: str, url: str, digest: str | None) -> str:
    """The contract's `github_url`: the repository (credentials redacted), or for an
    upload project `upload:<sha256>` as before `source` and `upload_digest` existed."""
    if source == ProjectSource.upload:
        return f"{UPLOAD_PREFIX}{digest or ''}"
    return validation.redact(url)


# Built once: composing the expression per request cost more than running it.
# SQLAlchemy's own select: sqlmodel's is typed for up to four columns, and these queries
# run on a Core connection anyway.
_PUBLIC_COLUMNS = (
    col(Project.id), col(Project.name), col(Project.status), col(Project.status_reason),
    col(Project.template), col(Project.github_url), col(Project.created_at),
    col(Project.desired_status), col(Project.restarts), col(Project.last_exit_code),
    col(Project.last_exit_oom), col(Project.last_exit_at), col(Project.release_version),
    col(Project.health_path), col(Project.source), col(Project.upload_digest),
    col(Project.deploy_step), col(Project.last_deploy_status), col(Project.last_deploy_reason),
    col(Project.cron_failing_json),
)
_OWNER = col(Project.user_id) == bindparam("user_id")
_LIST_PUBLIC = core_select(*_PUBLIC_COLUMNS).where(_OWNER).order_by(col(Project.created_at))
_ONE_PUBLIC = core_select(*_PUBLIC_COLUMNS).where(col(Project.id) == bindparam("id"), _OWNER)
# Each column's attribute name, in the rows' order: rows are unpacked by these names
# (PublicView.named), so a column is added by adding it above and reading it in `shape`.
PUBLIC_NAMES = tuple(str(column.key) for column in _LIST_PUBLIC.selected_columns)
_ONE_STATUS = core_select(col(Project.status), col(Project.status_reason)).where(
    col(Project.id) == bindparam("id"), _OWNER)


class PublicView:
    """What a project's public shape needs besides its row: the router's port, the live
    metrics and whether a deploy of it is under way (read per request, never stored)."""

    def __init__(self, router_port: int, metrics: MetricsStore,
                 deploying: Callable[[str], bool], apps_domain: str | None = None) -> None:
        self.router_port = router_port
        self.apps_domain = apps_domain
        self.metrics = metrics
        self.deploying = deploying

    def of_project(self, user: User, project: Project) -> ProjectPublic:
        """The public shape of a loaded project (after a change), as a read gives it."""
        columns = {name: getattr(project, name) for name in PUBLIC_NAMES}
        return self.shape(user, columns, self.metrics.latest(project.id),
                          self.deploying(project.id))

    def of_row(self, user: User, row: Sequence[Any]) -> ProjectPublic:
        """The public shape of a row of the public columns (a read's)."""
        columns = self.named(row)
        return self.shape(user, columns, self.metrics.latest(columns["id"]),
                          self.deploying(columns["id"]))

    @staticmethod
    def named(row: Sequence[Any]) -> dict[str, Any]:
        """A row of the public columns by name (built once per kept row, not per read)."""
        return dict(zip(PUBLIC_NAMES, row, strict=True))

    def shape(self, user: User, c: Mapping[str, Any], sample: Metrics | None,
              deploying: bool) -> ProjectPublic:
        """The public shape of the columns `c` (by name) with the live parts given (read
        once by the caller); built from values the database already validated."""
        return ProjectPublic.model_construct(
            id=c["id"], userId=user.id, name=c["name"], status=ProjectStatus(c["status"]),
            status_reason=c["status_reason"],
            url=project_url(c["name"], user.handle, self.router_port, self.apps_domain),
            template=Template(c["template"]),
            github_url=public_github_url(c["source"], c["github_url"], c["upload_digest"]),
            created_at=c["created_at"], metrics=sample or Metrics(),
            desired_status=DesiredStatus(c["desired_status"]), restarts=c["restarts"],
            last_exit=last_exit(c["last_exit_code"], c["last_exit_oom"], c["last_exit_at"]),
            release=c["release_version"], health_path=c["health_path"], deploying=deploying,
            deploy_step=c["deploy_step"],
            last_deploy=last_deploy(c["last_deploy_status"], c["last_deploy_reason"]),
            source=ProjectSource(c["source"]), upload_digest=c["upload_digest"],
            cron=cron_summary(c["cron_failing_json"]),
        )


async def list_rows(rows: Rows, user: User) -> list[Row]:
    """The caller's projects' public columns, oldest first (a prepared Core query)."""
    return await rows.all(_LIST_PUBLIC, {"user_id": user.id})


async def owned_row(rows: Rows, user: User, project_id: str) -> Row:
    """The caller's project's public columns, or NotFound (as `get_owned`)."""
    found = await rows.all(_ONE_PUBLIC, {"id": project_id, "user_id": user.id})
    if not found:
        raise NotFound("Project not found")
    return found[0]


async def status_owned(rows: Rows, user: User, project_id: str) -> tuple[str, str | None]:
    """The caller's project's (status, status_reason), or NotFound."""
    found = await rows.all(_ONE_STATUS, {"id": project_id, "user_id": user.id})
    if not found:
        raise NotFound("Project not found")
    return found[0][0], found[0][1]


def get_owned(session: Session, user: User, project_id: str) -> Project:
    """The caller's project, or NotFound: someone else's project does not exist for them."""
    project = session.get(Project, project_id)
    if project is None or project.user_id != user.id:
        raise NotFound("Project not found")
    return project


def get_owned_by_name(session: Session, user: User, name: str) -> Project | None:
    query = select(Project).where(Project.user_id == user.id, Project.name == name)
    return session.exec(query).first()


def owned_ids(session: Session, user_id: str) -> set[str]:
    """Ids of the user's projects (ids, not a count: hostd.control.quota adds its own)."""
    return set(session.exec(select(Project.id).where(Project.user_id == user_id)).all())


def wanted_running(session: Session, user_id: str) -> list[Project]:
    """The user's projects whose owner wants them to run (desired status running: from
    their creation, a deploy or a start until a stop); hostd.control.quota picks those
    that reserve memory."""
    query = select(Project).where(Project.user_id == user_id,
                                  Project.desired_status == DesiredStatus.running)
    return list(session.exec(query).all())


def check_repo(value: str, *, allow_local: bool, allow_private: bool,
               local_root: Path | None = None) -> str:
    """The URL's shape, then where it points: a host that resolves must resolve to public
    addresses only, a local path must be under `local_root` (the clone checks both
    again). May wait a few seconds on DNS."""
    try:
        url = validation.check_repo_url(value, allow_local=allow_local,
                                        allow_private=allow_private)
        if localrepo.is_local(url):
            localrepo.confined(url, local_root)
    except ValueError as exc:
        raise ValidationError(f"github_url {exc}") from None
    repo = validation.parse_repo_url(url)
    if repo is None or allow_private:
        return url
    try:
        addresses.checked_address(repo.host, repo.connect_port)
    except addresses.AddressRefused:
        # Not which address: that would let anyone read the operator's internal DNS.
        raise ValidationError(
            "github_url must point to a repository on a public address (the daemon's owner "
            "can allow private ones with HOSTD_ALLOW_PRIVATE_REPOS=true)") from None
    return url


UPLOAD_PREFIX = "upload:"  # the public github_url of an upload project: `upload:<sha256>`
WAITING_FOR_UPLOAD = "waiting for its first upload (hostctl up)"


def create(session: Session, user: User, body: ProjectCreate, *, allow_local: bool,
           allow_private: bool = False, local_root: Path | None = None,
           project_id: str | None = None) -> Project:
    """A project from a git URL (`deploying`), or one waiting for its source upload
    (`stopped`, and wanted so, until the first upload deploys it)."""
    uploaded = body.source == "upload"
    url = "" if uploaded else check_repo(
        body.github_url, allow_local=allow_local, allow_private=allow_private,
        local_root=local_root)
    env = configvars.check(dict(body.env), {})  # refused before anything is stored
    if get_owned_by_name(session, user, body.name) is not None:
        raise Conflict(f"You already have a project named {body.name!r}")
    project = Project(
        id=project_id or new_id(), user_id=user.id, name=body.name,
        template=body.template.value, github_url=url,
        source=ProjectSource.upload if uploaded else ProjectSource.git,
        status=ProjectStatus.stopped if uploaded else ProjectStatus.deploying,
        status_reason=WAITING_FOR_UPLOAD if uploaded else None,
        desired_status=DesiredStatus.stopped if uploaded else DesiredStatus.running,
        health_path=body.health_path,
        formation_json=json.dumps(body.formation, sort_keys=True),
    )
    session.add(project)
    try:
        session.flush()  # the project row first: its config vars refer to it
        configvars.store(session, project.id, env)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"You already have a project named {body.name!r}") from None
    log.info("project created id=%s user=%s name=%s", project.id, user.id, project.name)
    return project

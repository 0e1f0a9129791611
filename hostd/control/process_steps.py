"""The deploy's steps for the formation (issue 26): `web_replicas` before the switch,
`processes` after it.

The rollout order: web.1 of the new release starts and answers (`run`, `health_check`),
then its web.2…N (`web_replicas`, each health-gated, not serving yet); `switch` makes them
all the project's at once and retires the previous release's web replicas through the
drain; only then does `processes` start the new release's other types and stop the
previous release's. A web replica that never answers fails the deploy before the switch:
the previous release serves on, and what the deploy started goes. A release without a
`web` type, or a deploy of a project whose web is scaled to 0, skips the web steps: it
runs, without a route (status reason NO_WEB, or `web_scaled_to_zero`).
"""

from __future__ import annotations

from sqlmodel import Session

from hostd.control.formation import FormationFailed, Owner, Target
from hostd.control.job import DELETED, Cancelled, DeployJob, JobContext, StepFailed
from hostd.control.runtime import WEB
from hostd.source.appjson import AppJsonError
from hostd.source.appjson import read as read_app_json
from hostd.source.checkout import Checkout, UnsafeCheckout
from hostd.store import configvars, formation
from hostd.store.models import Project, ProjectStatus
from hostd.store.models.processes import ProcessReplica

NO_WEB = "no web process: the Procfile has no `web:` line, so the app has no URL"


def web_scaled_to_zero(name: str) -> str:
    """The status reason of a project that runs with web scaled to 0."""
    return (f"no web process: web is scaled to 0, so the app has no URL "
            f"(`hostctl scale {name} web=1` brings it back)")


def no_web_reason(name: str, has_web_type: bool) -> str:
    """Why a running project has no route: web scaled to 0, or a release without web."""
    return web_scaled_to_zero(name) if has_web_type else NO_WEB


def read_app_formation(job: DeployJob) -> None:
    """app.json's `formation`, for the types its owner never scaled (in the build step,
    beside the Procfile)."""
    try:
        app = read_app_json(Checkout(job.repo_dir))
    except (AppJsonError, UnsafeCheckout) as exc:
        raise StepFailed(str(exc)) from None
    job.app_formation = dict(app.formation) if app is not None else {}
    if job.web_quantity is None:  # app.json's only for the types its owner never set
        job.web_quantity = job.app_formation.get(WEB)


def owner_of(job: DeployJob) -> Owner:
    return Owner(job.project_id, job.name, job.user_id, job.handle, job.health_path)


def target_of(ctx: JobContext, job: DeployJob) -> Target:
    assert job.image is not None
    with Session(ctx.db) as session:
        env = configvars.load(session, job.project_id)
    return Target(job.release_version, job.image, env, job.processes)


def web_replicas(ctx: JobContext, job: DeployJob) -> None:
    """web.2…N of the new release, each answering before the switch."""
    project = _first_formation(ctx, job)
    wanted = formation.effective(project, job.processes).get(WEB, 1)
    if wanted < 2:
        return
    job.log(f"starting web.2 to web.{wanted}")
    try:
        started = ctx.formation.converge(project, owner_of(job), target_of(ctx, job),
                                         types=lambda process: process == WEB, say=job.log)
    except FormationFailed as exc:
        raise StepFailed(str(exc)) from None
    job.pending_web = [row.id for row in started]


def processes(ctx: JobContext, job: DeployJob) -> None:
    """After the switch: the new release's other types start, then the previous
    release's replicas go."""
    project = _first_formation(ctx, job)  # a release without web had no web_replicas
    if job.release_version is None:  # a deploy without `web_replicas` (none was needed)
        job.release_version = project.release_version
    others = [name for name, n in formation.effective(project, job.processes).items()
              if name != WEB and n > 0]
    if others:
        job.log(f"starting {', '.join(others)}")
    ctx.formation.converge(project, owner_of(job), target_of(ctx, job),
                           types=lambda process: process != WEB, say=job.log)
    ctx.formation.retire_others(project, job.release_version)


def runs_without_web(session: Session, project: Project) -> bool:
    """It runs a release that has no web type, or web scaled to 0 (its other types only)."""
    return (project.status == ProjectStatus.running and project.container_id is None
            and project.release_version is not None
            and not formation.runs_web(project, formation.current_types(session, project)))


def drop_pending(ctx: JobContext, job: DeployJob) -> None:
    """A deploy that ends before its switch: the web replicas it started go."""
    if not job.pending_web:
        return
    with Session(ctx.db) as session:
        rows = [row for rid in job.pending_web
                if (row := session.get(ProcessReplica, rid)) is not None
                and row.release_version is None]
    ctx.formation.remove(rows)
    job.pending_web = []


def _first_formation(ctx: JobContext, job: DeployJob) -> Project:
    """The project, with app.json's formation stored for the types never set."""
    with Session(ctx.db) as session:
        project = session.get(Project, job.project_id)
        if project is None:
            raise Cancelled(DELETED)
        if job.app_formation:
            formation.first_from_app_json(project, job.app_formation)
            session.add(project)
            session.commit()
            session.refresh(project)
        return project

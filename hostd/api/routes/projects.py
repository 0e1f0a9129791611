"""`/api/projects`: list, create, read, change, delete, status, deploy, deployments, config
vars."""

from __future__ import annotations

from functools import partial

import anyio
from fastapi import APIRouter, Response
from sqlmodel import Session, col, select

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import (
    CallerDep,
    ChangesDep,
    CurrentUser,
    DeployerDep,
    LifecycleDep,
    OneOffsDep,
    OwnedProject,
    SessionDep,
    ViewDep,
)
from hostd.api.reads import raw_json
from hostd.control.job import DELETED
from hostd.errors import ValidationError
from hostd.store import configvars, projects
from hostd.store.models import (
    Deployment,
    DeploymentList,
    DeploymentPublic,
    EnvChanged,
    EnvPatch,
    EnvResponse,
    Message,
    Project,
    ProjectCreate,
    ProjectList,
    ProjectPatch,
    ProjectResponse,
    ProjectStatus,
    StatusBody,
    User,
)
from hostd.store.projects import PublicView

router = APIRouter(route_class=BodyTypedRoute)
DEPLOYMENTS_SHOWN = 50


def _public(session: Session, project: Project, user: User, view: PublicView,
            *, refresh: bool = True) -> ProjectResponse:
    if refresh:
        session.refresh(project)  # the deploy worker may have moved it on already
    return ProjectResponse(project=view.of_project(user, project))


@router.get("", response_model=ProjectList)
async def list_projects(caller: CallerDep) -> Response:
    """The hottest route, so it is lean (hostd.store.reads)."""
    user, reads = caller.user, caller.reads
    return raw_json(reads.json.list_body(user, await projects.list_rows(reads.rows, user)))


@router.post("", status_code=201, response_model=ProjectResponse)
def create_project(
    body: ProjectCreate, session: SessionDep, user: CurrentUser, view: ViewDep,
    lifecycle: LifecycleDep,
) -> ProjectResponse:
    """Store the project and start its first deploy; it answers at once, `deploying`.
    A full deploy queue (429) stores nothing (see Lifecycle.create). A sync route (a
    worker thread): create may wait a few seconds on DNS."""
    project = lifecycle.create(session, user, body)
    return _public(session, project, user, view, refresh=False)


@router.get("/{project_id}", response_model=ProjectResponse)
async def get_project(project_id: str, caller: CallerDep) -> Response:
    """Lean like the list (hostd.store.reads): the ownership rule is in the query."""
    user, reads = caller.user, caller.reads
    return raw_json(reads.json.one_body(user, await projects.owned_row(reads.rows, user,
                                                                       project_id)))


@router.patch("/{project_id}", response_model=ProjectResponse)
def patch_project(
    body: ProjectPatch, project: OwnedProject, session: SessionDep, user: CurrentUser,
    view: ViewDep,
) -> ProjectResponse:
    """Change a project's settings: `health_path`, what hostd GETs to decide a new
    container is healthy (any answer below 500), from the next deploy or change on."""
    project.health_path = body.health_path
    session.add(project)
    session.commit()
    return _public(session, project, user, view)


@router.delete("/{project_id}", response_model=Message)
def delete_project(project: OwnedProject, session: SessionDep, lifecycle: LifecycleDep,
                   deployer: DeployerDep, oneoffs: OneOffsDep) -> Message:
    # Its deploy first (a release phase's container goes with the cancel), then a
    # command still running.
    deployer.cancel(project.id, DELETED)
    oneoffs.remove_for_project(project.id)
    return Message(message=lifecycle.delete(session, project))


@router.patch("/{project_id}/status", response_model=ProjectResponse)
async def set_status(
    body: StatusBody, project: OwnedProject, session: SessionDep, user: CurrentUser,
    view: ViewDep, lifecycle: LifecycleDep, changes: ChangesDep,
) -> ProjectResponse:
    """`running` starts the container, `stopped` stops it (on the changes' threads)."""
    if body.status == ProjectStatus.running:
        await changes.run(project.id, user.id, project.name, lifecycle.start, session,
                          project, user)
    elif body.status == ProjectStatus.stopped:
        await changes.run(project.id, user.id, project.name, lifecycle.stop, project)
    else:
        raise ValidationError("status must be 'running' or 'stopped'")
    return await anyio.to_thread.run_sync(partial(_public, session, project, user, view))


@router.post("/{project_id}/deploy", status_code=202, response_model=ProjectResponse)
def deploy(
    project: OwnedProject, session: SessionDep, user: CurrentUser, view: ViewDep,
    lifecycle: LifecycleDep,
) -> ProjectResponse:
    """Deploy the repository's latest commit again (a deploy under way is superseded)."""
    lifecycle.deploy(session, project, user)
    return _public(session, project, user, view)


@router.get("/{project_id}/deployments", response_model=DeploymentList)
def deployments(project: OwnedProject, session: SessionDep) -> DeploymentList:
    query = (select(Deployment).where(Deployment.project_id == project.id)
             .order_by(col(Deployment.started_at).desc()).limit(DEPLOYMENTS_SHOWN))
    return DeploymentList(deployments=[DeploymentPublic.of(row) for row in session.exec(query)])


@router.get("/{project_id}/env", response_model=EnvResponse)
def get_env(project: OwnedProject, session: SessionDep) -> EnvResponse:
    """The project's config vars (environment variables of its container), names sorted."""
    return EnvResponse(env=configvars.load(session, project.id))


@router.patch("/{project_id}/env", response_model=EnvChanged)
async def patch_env(
    body: EnvPatch, project: OwnedProject, session: SessionDep, user: CurrentUser,
    lifecycle: LifecycleDep, changes: ChangesDep,
) -> EnvChanged:
    """Set (a string) or remove (null) config vars. A running project is recreated with
    them before the answer (on the changes' threads, one change at a time); a stopped
    one gets them when it next starts (changes of it queue: none is lost)."""
    if project.status == ProjectStatus.running:
        env, message = await changes.run(project.id, user.id, project.name,
                                         lifecycle.set_env, session, project, user, body.env)
    else:
        env, message = await anyio.to_thread.run_sync(
            partial(lifecycle.set_env, session, project, user, body.env))
    return EnvChanged(env=env, message=message)

"""`/api/containers/:id`: a project's container status, start, stop, restart.

Start, stop and restart wait for the engine and the app: they run on the changes'
threads (hostd.control.change_runner), one per project at a time, never on the API's.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import (
    CallerDep,
    ChangesDep,
    CurrentUser,
    LifecycleDep,
    OwnedProject,
    SessionDep,
)
from hostd.api.reads import json_response
from hostd.store import projects
from hostd.store.models import ContainerStatus, Message, ProjectStatus

router = APIRouter(route_class=BodyTypedRoute)


@router.get("/{project_id}/status", response_model=ContainerStatus)
async def container_status(project_id: str, caller: CallerDep) -> Response:
    """Lean (hostd.store.reads): two columns, the ownership rule in the query."""
    status, reason = await projects.status_owned(caller.reads.rows, caller.user,
                                                 project_id)
    return json_response(ContainerStatus.model_construct(status=ProjectStatus(status),
                                                         status_reason=reason))


@router.post("/{project_id}/start", response_model=Message)
async def start(project: OwnedProject, session: SessionDep, user: CurrentUser,
                lifecycle: LifecycleDep, changes: ChangesDep) -> Message:
    return Message(message=await changes.run(project.id, user.id, project.name,
                                             lifecycle.start, session, project, user))


@router.post("/{project_id}/stop", response_model=Message)
async def stop(project: OwnedProject, user: CurrentUser, lifecycle: LifecycleDep,
               changes: ChangesDep) -> Message:
    return Message(message=await changes.run(project.id, user.id, project.name,
                                             lifecycle.stop, project))


@router.post("/{project_id}/restart", response_model=Message)
async def restart(project: OwnedProject, session: SessionDep, user: CurrentUser,
                  lifecycle: LifecycleDep, changes: ChangesDep) -> Message:
    return Message(message=await changes.run(project.id, user.id, project.name,
                                             lifecycle.restart, session, project, user))

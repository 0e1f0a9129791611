"""`/api/containers/:id`: a project's container status, start, stop, restart.

Start, stop and restart wait for the engine and the app: they run on the changes'
threads (hostd.api.changes), one per project at a time, never on the API's.
"""

from __future__ import annotations

from fastapi import APIRouter

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import ChangesDep, CurrentUser, LifecycleDep, OwnedProject, SessionDep
from hostd.store.models import ContainerStatus, Message, ProjectStatus

router = APIRouter(route_class=BodyTypedRoute)


@router.get("/{project_id}/status", response_model=ContainerStatus)
def container_status(project: OwnedProject) -> ContainerStatus:
    return ContainerStatus(status=ProjectStatus(project.status),
                           status_reason=project.status_reason)


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

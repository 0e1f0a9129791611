"""`/api/containers/:id`: a project's container status, start, stop, restart."""

from __future__ import annotations

from fastapi import APIRouter

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import CurrentUser, LifecycleDep, OwnedProject, SessionDep
from hostd.store.models import ContainerStatus, Message, ProjectStatus

router = APIRouter(route_class=BodyTypedRoute)


@router.get("/{project_id}/status", response_model=ContainerStatus)
def container_status(project: OwnedProject) -> ContainerStatus:
    return ContainerStatus(status=ProjectStatus(project.status),
                           status_reason=project.status_reason)


@router.post("/{project_id}/start", response_model=Message)
def start(project: OwnedProject, session: SessionDep, user: CurrentUser,
          lifecycle: LifecycleDep) -> Message:
    return Message(message=lifecycle.start(session, project, user))


@router.post("/{project_id}/stop", response_model=Message)
def stop(project: OwnedProject, lifecycle: LifecycleDep) -> Message:
    return Message(message=lifecycle.stop(project))


@router.post("/{project_id}/restart", response_model=Message)
def restart(project: OwnedProject, session: SessionDep, user: CurrentUser,
            lifecycle: LifecycleDep) -> Message:
    return Message(message=lifecycle.restart(session, project, user))

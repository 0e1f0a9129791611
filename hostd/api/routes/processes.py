"""`/api/projects/:id/formation` and `…/processes`: how many replicas of each process type
run, changing it, and each replica (hostd.control.scale)."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
from fastapi import APIRouter, Body
from pydantic import BaseModel

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import ChangesDep, CurrentUser, LifecycleDep, OwnedProject, SessionDep
from hostd.errors import ValidationError
from hostd.store.models.processes import FormationResponse, ProcessPublic

router = APIRouter(route_class=BodyTypedRoute)
TYPES_PER_CHANGE = 64  # a Procfile has rarely more than a handful


class ProcessList(BaseModel):
    processes: list[ProcessPublic]


@router.get("/{project_id}/formation", response_model=FormationResponse)
def get_formation(project: OwnedProject, session: SessionDep,
                  lifecycle: LifecycleDep) -> FormationResponse:
    """Every process type of the current release with its quantity, and the replicas."""
    return lifecycle.scaler.response(session, project)


@router.patch("/{project_id}/formation", response_model=FormationResponse)
async def patch_formation(project: OwnedProject, session: SessionDep, user: CurrentUser,
                          lifecycle: LifecycleDep, changes: ChangesDep,
                          body: dict[str, Any] = Body(...)) -> FormationResponse:
    """`{"web": 3, "worker": 1}`: only the types it changes. Answers once the replicas
    run (a 409 when a new one never serves: the formation and replicas as they were)."""
    if len(body) > TYPES_PER_CHANGE:
        raise ValidationError(f"at most {TYPES_PER_CHANGE} process types in one change")
    message = await changes.run(project.id, user.id, project.name, lifecycle.scaler.scale,
                                session, project, user, body)
    return await anyio.to_thread.run_sync(partial(lifecycle.scaler.response, session,
                                                  project, message))


@router.get("/{project_id}/processes", response_model=ProcessList)
def list_processes(project: OwnedProject, session: SessionDep,
                   lifecycle: LifecycleDep) -> ProcessList:
    """Each replica: type.number, state, restarts, CPU, memory, uptime (`hostctl ps`)."""
    return ProcessList(processes=lifecycle.scaler.processes(session, project))

"""`GET /healthz`: whether the database and the Docker engine answer."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import DbDep, HubDep, RuntimeDep
from hostd.store.db import database_ok

router = APIRouter(route_class=BodyTypedRoute)


class Health(BaseModel):
    status: str
    database: str
    docker: str
    subscribers: int  # open event streams: 0 again once their clients are gone


@router.get("/healthz", response_model=Health)
def healthz(db: DbDep, runtime: RuntimeDep, hub: HubDep) -> Health:
    """`ok` when both the database and the Docker engine answer, else `degraded`."""
    db_up = database_ok(db)
    docker_up = runtime.reachable()
    return Health(
        status="ok" if db_up and docker_up else "degraded",
        database="ok" if db_up else "unreachable",
        docker="ok" if docker_up else "unreachable",
        subscribers=hub.subscriber_count,
    )

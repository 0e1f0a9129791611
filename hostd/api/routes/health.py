from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from hostd.store.db import database_ok

router = APIRouter()


class Health(BaseModel):
    status: str
    database: str
    docker: str
    subscribers: int  # open event streams: 0 again once their clients are gone


@router.get("/healthz", response_model=Health)
def healthz(request: Request) -> Health:
    """`ok` when both the database and the Docker engine answer, else `degraded`."""
    db_up = database_ok(request.app.state.db_engine)
    docker_up = request.app.state.docker.reachable()
    return Health(
        status="ok" if db_up and docker_up else "degraded",
        database="ok" if db_up else "unreachable",
        docker="ok" if docker_up else "unreachable",
        subscribers=request.app.state.hub.subscriber_count,
    )

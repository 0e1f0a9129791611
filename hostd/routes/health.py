from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from hostd.db import database_ok

router = APIRouter()


class Health(BaseModel):
    status: str
    database: str


@router.get("/healthz", response_model=Health)
def healthz(request: Request) -> Health:
    db_up = database_ok(request.app.state.db_engine)
    return Health(status="ok" if db_up else "degraded", database="ok" if db_up else "unreachable")

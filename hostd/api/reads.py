"""`Reads`: the authenticated read routes' way to the database, as lean as it goes.

A read is a prepared Core query on a bare connection (no ORM session, no objects to
refresh) whose rows become response models without a second validation pass. For the
local SQLite file it runs on the event loop (hostd.store.db.make_loop_reader: ~0.1 ms,
never waiting for a writer), which saves the two thread hand-offs that were most of a
read's CPU; any other database is reached from a worker thread, as blocking I/O must be.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
from pydantic import BaseModel
from sqlalchemy import Connection, Engine
from starlette.responses import Response

from hostd.store.projects import PublicView

T = TypeVar("T")


class Reads:
    def __init__(self, db: Engine, loop_reader: Engine | None, view: PublicView) -> None:
        self.db = db
        self.loop_reader = loop_reader
        self.view = view

    async def run(self, query: Callable[[Connection], T]) -> T:
        """`query(conn)`'s result; its errors (NotFound ...) pass through."""
        if self.loop_reader is not None:
            return _on(self.loop_reader, query)
        return await anyio.to_thread.run_sync(partial(_on, self.db, query))


def _on(engine: Engine, query: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        return query(conn)


def json_response(model: BaseModel) -> Response:
    """One serialization straight to bytes (FastAPI would validate the model again)."""
    return Response(model.model_dump_json(), media_type="application/json")

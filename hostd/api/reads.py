"""The read routes' responses: bytes of JSON as they are (hostd.store.reads makes a
project's), without FastAPI's second validation pass."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response


def json_response(model: BaseModel) -> Response:
    """One serialization straight to bytes (FastAPI would validate the model again)."""
    return raw_json(model.model_dump_json().encode())


def raw_json(body: bytes) -> Response:
    """`body`, already JSON."""
    return Response(body, media_type="application/json")

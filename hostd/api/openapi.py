"""The OpenAPI document, made to tell the truth about error responses.

FastAPI documents a 422 `HTTPValidationError` on every route with a body or parameters,
but hostd renders validation errors as 400 `ValidationError` bodies (hostd.errors), so
the 422s and their schemas are removed. Every 429 documents its `Retry-After` header.
Tests fuzz the daemon against this document (tests/harden/test_fuzz.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _fix(spec: dict[str, Any]) -> dict[str, Any]:
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            if "429" in responses:
                responses["429"].setdefault("headers", RETRY_AFTER)
    schemas = spec.get("components", {}).get("schemas", {})
    for name in FASTAPI_422_SCHEMAS:  # referenced only by the 422s just removed
        schemas.pop(name, None)
    return spec


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` with one that builds the corrected document once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _fix(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes,
            ))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

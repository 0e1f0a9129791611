"""The one place that renders errors as the contract's body (see hostd.errors).

The engine layer's own errors are rendered here too: EngineUnavailable and other
EngineErrors → 503, ContainerMissing → 409. Anything unexpected is caught by
hostd.api.middleware.AccessLogMiddleware: one 500 body, one traceback in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hostd.control.runtime import ContainerMissing, EngineError, EngineUnavailable
from hostd.errors import (
    STATUS_TO_ERROR,
    Conflict,
    HostdError,
    ServiceUnavailable,
    ValidationError,
    error_body,
)

log = logging.getLogger("hostd.errors")


def render(exc: HostdError) -> JSONResponse:
    body = error_body(exc.error, exc.message, exc.status_code)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def describe_validation(errors: list[dict[str, Any]]) -> str:
    """FastAPI's error list → one readable sentence naming the fields."""
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            return "The request body is not valid JSON"
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc)
        msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            msg = "is required"
        elif err.get("type") in ("model_type", "model_attributes_type") and not field:
            msg = "The request body must be a JSON object"
        elif field:
            msg = msg[:1].lower() + msg[1:]
        parts.append(f"{field} {msg}" if field else msg)
    return "; ".join(parts) or "The request is not valid"


async def _hostd_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HostdError)
    return render(exc)


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return render(ValidationError(describe_validation(list(exc.errors()))))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    cls = STATUS_TO_ERROR.get(exc.status_code, HostdError)
    if exc.status_code == 404:
        message = f"No route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail) if exc.detail else cls.default_message
    body = error_body(cls.error, message, exc.status_code)
    return JSONResponse(body, status_code=exc.status_code, headers=dict(exc.headers or {}))


async def _engine_error(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, EngineUnavailable):
        return render(ServiceUnavailable(f"The Docker engine is unreachable: {exc}"))
    if isinstance(exc, ContainerMissing):
        return render(Conflict(f"The project's container is gone: {exc}; deploy it again"))
    log.warning("engine error: %s", exc)
    return render(ServiceUnavailable(f"Docker engine error: {exc}"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HostdError, _hostd_error)
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    # Anything else is caught by hostd.api.middleware.AccessLogMiddleware: one 500 body,
    # one traceback in the log.

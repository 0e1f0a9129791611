"""The errors hostd raises, and the one place that renders them.

    HostdError (500 ServerError)
    ├── ValidationError        400
    ├── Unauthorized           401  missing or invalid token
    │   ├── TokenExpired       401
    │   └── AuthError          401  wrong email or password
    ├── NotFound               404
    ├── MethodNotAllowed       405
    ├── Conflict               409  (error name "ConflictError")
    ├── PayloadTooLarge        413
    ├── RateLimited            429  with Retry-After
    └── ServiceUnavailable     503  e.g. the Docker engine is unreachable

The engine layer's own errors (hostd.engine.client) are rendered here too:
EngineUnavailable and other EngineErrors → 503, ContainerMissing → 409.

Every 4xx/5xx body is `{"error": name, "message": text, "statusCode": code}`:
routes raise, and the handlers below render, including FastAPI's own validation
errors, Starlette's 404/405 and any unexpected exception (traceback to the log only).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hostd.engine.client import ContainerMissing, EngineError, EngineUnavailable

log = logging.getLogger("hostd.errors")


class HostdError(Exception):
    status_code = 500
    error = "ServerError"
    default_message = "Something went wrong on the server"

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None):
        self.message = message or self.default_message
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationError(HostdError):
    status_code = 400
    error = "ValidationError"
    default_message = "The request is not valid"


class Unauthorized(HostdError):
    status_code = 401
    error = "Unauthorized"
    default_message = "Authentication required: send Authorization: Bearer <token>"


class TokenExpired(Unauthorized):
    error = "TokenExpired"
    default_message = "The token has expired: log in again"


class AuthError(Unauthorized):
    error = "AuthError"
    default_message = "Wrong email or password"


class NotFound(HostdError):
    status_code = 404
    error = "NotFound"
    default_message = "Not found"


class MethodNotAllowed(HostdError):
    status_code = 405
    error = "MethodNotAllowed"
    default_message = "Method not allowed"


class Conflict(HostdError):
    status_code = 409
    error = "ConflictError"
    default_message = "Conflict"


class PayloadTooLarge(HostdError):
    status_code = 413
    error = "PayloadTooLarge"
    default_message = "The request body is too large"


class RateLimited(HostdError):
    status_code = 429
    error = "RateLimited"
    default_message = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int):
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(HostdError):
    status_code = 503
    error = "ServiceUnavailable"
    default_message = "A service hostd depends on is unavailable"


_STATUS_TO_ERROR: dict[int, type[HostdError]] = {
    cls.status_code: cls
    for cls in (ValidationError, Unauthorized, NotFound, MethodNotAllowed, Conflict,
                PayloadTooLarge, RateLimited, ServiceUnavailable)
}


def error_body(error: str, message: str, status_code: int) -> dict[str, Any]:
    return {"error": error, "message": message, "statusCode": status_code}


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
    cls = _STATUS_TO_ERROR.get(exc.status_code, HostdError)
    if exc.status_code == 404:
        message = f"No route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail) if exc.detail else cls.default_message
    body = error_body(cls.error, message, exc.status_code)
    return JSONResponse(body, status_code=exc.status_code, headers=dict(exc.headers or {}))


def server_error_body() -> dict[str, Any]:
    exc = HostdError()
    return error_body(exc.error, exc.message, exc.status_code)


async def _engine_error(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, EngineUnavailable):
        return render(ServiceUnavailable(f"The Docker engine is unreachable: {exc}"))
    if isinstance(exc, ContainerMissing):
        return render(Conflict(f"The project's container is gone: {exc}; deploy it again"))
    log.warning("engine error: %s", exc)
    return render(ServiceUnavailable(f"Docker engine error: {exc}"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HostdError, _hostd_error)
    app.add_exception_handler(EngineUnavailable, _engine_error)
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    # Anything else is caught by hostd.middleware.AccessLogMiddleware: one 500 body,
    # one traceback in the log.

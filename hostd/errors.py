"""The errors hostd raises, and the one place that renders them.

    HostdError (500 ServerError)
    ├── ValidationError        400
    ├── Unauthorized           401  missing or invalid token
    │   ├── TokenExpired       401
    │   └── AuthError          401  wrong email or password
    ├── Forbidden              403  e.g. a change sent from a foreign Origin
    ├── QuotaExceeded          403  a per-user limit (projects, memory); says which setting
    ├── NotFound               404
    ├── MethodNotAllowed       405
    ├── Conflict               409  (error name "ConflictError")
    ├── PayloadTooLarge        413
    ├── UnsupportedMediaType   415  a body that does not say it is JSON
    ├── RateLimited            429  with Retry-After
    └── ServiceUnavailable     503  e.g. the Docker engine is unreachable

Every 4xx/5xx body is `{"error": name, "message": text, "statusCode": code}`: routes
raise, and `hostd.api.errors` renders, including the engine layer's own errors, FastAPI's
validation errors, Starlette's 404/405 and any unexpected exception. This module imports
no web framework: the store and the control plane raise these too.
"""

from __future__ import annotations

from typing import Any


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


class Forbidden(HostdError):
    status_code = 403
    error = "Forbidden"
    default_message = "Not allowed"
class QuotaExceeded(HostdError):
    """A per-user limit (hostd.control.quota): the message names the limit and the
    setting that raises it. 403: trying again will not help until something changes."""

    status_code = 403
    error = "QuotaExceeded"
    default_message = "A limit of your account is reached"


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


class UnsupportedMediaType(HostdError):
    status_code = 415
    error = "UnsupportedMediaType"
    default_message = "The request body's Content-Type is not one this route takes"


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


STATUS_TO_ERROR: dict[int, type[HostdError]] = {
    cls.status_code: cls
    for cls in (ValidationError, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict,
                PayloadTooLarge, UnsupportedMediaType, RateLimited, ServiceUnavailable)
}


def error_body(error: str, message: str, status_code: int) -> dict[str, Any]:
    return {"error": error, "message": message, "statusCode": status_code}


def server_error_body() -> dict[str, Any]:
    exc = HostdError()
    return error_body(exc.error, exc.message, exc.status_code)

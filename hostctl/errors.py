"""The errors hostctl raises, mirroring the daemon's error names.

    HostctlError
    ├── DaemonUnreachable         no hostd listening at the API URL
    ├── RequestTimeout            hostd accepted the connection but did not answer in time
    ├── NotLoggedIn               no token stored for this API URL
    ├── InvalidArgument           refused before any request (e.g. `env set KEY` with no `=`)
    ├── DeployFailed / DeployTimeout
    └── ApiError                  any 4xx/5xx body {error, message, statusCode}
        ├── ValidationFailed      400 ValidationError
        ├── Unauthorized          401 Unauthorized / TokenExpired / AuthError
        ├── NotFound              404
        ├── Conflict              409 ConflictError
        ├── PayloadTooLarge       413
        ├── RateLimited           429 (retry_after from the Retry-After header)
        ├── ServerError           500 and any other 5xx
        │   └── ServiceUnavailable 503
        └── (other 4xx stay plain ApiError)

Kept apart from client.py so the exit-code mapping needs no httpx import.
"""

from __future__ import annotations


class HostctlError(Exception):
    """Anything hostctl reports as one line on stderr."""


class DaemonUnreachable(HostctlError):
    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        super().__init__(f"cannot reach hostd at {api_url}: is hostd running? try `hostd serve`")


class RequestTimeout(HostctlError):
    def __init__(self, api_url: str) -> None:
        super().__init__(f"hostd at {api_url} did not answer in time")


class NotLoggedIn(HostctlError):
    def __init__(self, api_url: str) -> None:
        super().__init__(f"not logged in to {api_url}: run `hostctl login`")


class InvalidArgument(HostctlError):
    """Input hostctl can tell is wrong by itself: same exit code as the daemon's 400.

    Not click's usage error (exit 2): the arguments parse, their content is what's wrong,
    exactly as if hostd had said 400, so scripts see one code for one kind of mistake.
    """


class DeployFailed(HostctlError):
    """A deploy ended in status `error`; the message carries the reason."""


class DeployTimeout(HostctlError):
    def __init__(self, name: str, timeout_s: float) -> None:
        super().__init__(f"{name} is still deploying after {timeout_s:g} s")


class ApiError(HostctlError):
    status_code = 0

    def __init__(
        self, error: str, message: str, status_code: int, retry_after: float | None = None
    ) -> None:
        self.error = error
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after
        super().__init__(f"{error}: {message}")


class ValidationFailed(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class PayloadTooLarge(ApiError):
    pass


class RateLimited(ApiError):
    pass


class ServerError(ApiError):
    pass


class ServiceUnavailable(ServerError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    503: ServiceUnavailable,
}


def api_error_for(
    status_code: int, error: str, message: str, retry_after: float | None = None
) -> ApiError:
    """The most specific ApiError subclass for a status code."""
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else ApiError
    return cls(error, message, status_code, retry_after)

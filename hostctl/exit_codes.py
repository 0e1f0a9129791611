"""Exit statuses in one place, and which error maps to which."""

from __future__ import annotations

from enum import IntEnum

from hostctl import errors


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # anything not listed below
    USAGE = 2  # bad arguments (click's own code)
    NOT_LOGGED_IN = 3  # no token, or the daemon said 401
    NOT_FOUND = 4
    CONFLICT = 5
    INVALID = 6  # 400 / 413, or input refused before sending it
    RATE_LIMITED = 7
    SERVER_ERROR = 8  # 5xx
    UNREACHABLE = 9  # no daemon at the API URL
    TIMEOUT = 10
    DEPLOY_FAILED = 11
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


# Most specific first: ServiceUnavailable is a ServerError, and so on.
_CODES: tuple[tuple[type[Exception], ExitCode], ...] = (
    (errors.DaemonUnreachable, ExitCode.UNREACHABLE),
    (errors.RequestTimeout, ExitCode.TIMEOUT),
    (errors.DeployTimeout, ExitCode.TIMEOUT),
    (errors.NotLoggedIn, ExitCode.NOT_LOGGED_IN),
    (errors.InvalidArgument, ExitCode.INVALID),
    (errors.DeployFailed, ExitCode.DEPLOY_FAILED),
    (errors.Unauthorized, ExitCode.NOT_LOGGED_IN),
    (errors.NotFound, ExitCode.NOT_FOUND),
    (errors.Conflict, ExitCode.CONFLICT),
    (errors.ValidationFailed, ExitCode.INVALID),
    (errors.PayloadTooLarge, ExitCode.INVALID),
    (errors.RateLimited, ExitCode.RATE_LIMITED),
    (errors.ServerError, ExitCode.SERVER_ERROR),
)


def exit_code_for(exc: BaseException) -> ExitCode:
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return ExitCode.ERROR


def describe(exc: BaseException) -> str:
    """The one red line: what went wrong and, where we know it, what to do."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, errors.Unauthorized):
        hint = "" if exc.error == "AuthError" else ": run `hostctl login`"
        return f"{exc.message}{hint}"
    if isinstance(exc, errors.RateLimited) and exc.retry_after is not None:
        return f"{exc.message} (retry in {exc.retry_after:g} s)"
    if isinstance(exc, errors.ApiError):
        return exc.message
    return str(exc) or type(exc).__name__

"""Every error class: the exception the client raises, the exit code, the one red line."""

from __future__ import annotations

import httpx
import pytest

from hostctl import errors
from hostctl.client import HostdClient
from hostctl.context import AppContext
from hostctl.exit_codes import ExitCode, describe, exit_code_for
from tests.cli.conftest import run_process
from tests.support import free_port


def error_response(status: int, name: str, headers: dict | None = None) -> httpx.Response:
    body = {"error": name, "message": f"{name} happened", "statusCode": status}
    return httpx.Response(status, json=body, headers=headers)


def client_answering(handler) -> HostdClient:
    return HostdClient("http://hostd.test", "token", transport=httpx.MockTransport(handler))


# Every error the API answers: (status, error name, exception, exit code). test_transport.py
# runs the same table through the standard-library transport.
ERROR_CASES = [
    (400, "ValidationError", errors.ValidationFailed, ExitCode.INVALID),
    (401, "Unauthorized", errors.Unauthorized, ExitCode.NOT_LOGGED_IN),
    (401, "TokenExpired", errors.Unauthorized, ExitCode.NOT_LOGGED_IN),
    (404, "NotFound", errors.NotFound, ExitCode.NOT_FOUND),
    (409, "ConflictError", errors.Conflict, ExitCode.CONFLICT),
    (413, "PayloadTooLarge", errors.PayloadTooLarge, ExitCode.INVALID),
    (429, "RateLimited", errors.RateLimited, ExitCode.RATE_LIMITED),
    (500, "ServerError", errors.ServerError, ExitCode.SERVER_ERROR),
    (503, "ServiceUnavailable", errors.ServiceUnavailable, ExitCode.SERVER_ERROR),
]


@pytest.mark.parametrize(("status", "name", "exc_class", "code"), ERROR_CASES)
def test_error_bodies_become_typed_errors_and_exit_codes(status, name, exc_class, code):
    client = client_answering(lambda request: error_response(status, name, {"Retry-After": "3"}))
    with pytest.raises(exc_class) as caught:
        client.list_projects()
    assert (caught.value.error, caught.value.status_code) == (name, status)
    assert caught.value.message == f"{name} happened"
    assert exit_code_for(caught.value) == code


def test_401_hint_and_rate_limit_wait_are_in_the_message():
    expired = errors.Unauthorized("TokenExpired", "The token has expired", 401)
    assert describe(expired).endswith("run `hostctl login`")
    limited = errors.RateLimited("RateLimited", "Slow down", 429, retry_after=3)
    assert "retry in 3 s" in describe(limited)


def test_a_body_that_is_not_json_still_raises():
    client = client_answering(lambda request: httpx.Response(502, text="<html>bad gateway"))
    with pytest.raises(errors.ServerError):
        client.me()


def test_timeouts_and_refused_connections():
    def read_timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(errors.RequestTimeout) as caught:
        client_answering(read_timeout).me()
    assert exit_code_for(caught.value) == ExitCode.TIMEOUT

    def refused(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(errors.DaemonUnreachable) as caught:
        client_answering(refused).me()
    assert exit_code_for(caught.value) == ExitCode.UNREACHABLE
    assert exit_code_for(KeyboardInterrupt()) == ExitCode.INTERRUPTED == 130


def test_cli_prints_one_red_line_and_the_traceback_only_with_debug(hostctl, monkeypatch):
    def failing_client(self, *, authenticated=True):
        return client_answering(lambda request: error_response(500, "ServerError"))

    monkeypatch.setattr(AppContext, "client", failing_client)
    plain = hostctl("projects", "list")
    assert plain.exit_code == ExitCode.SERVER_ERROR
    assert plain.stderr.strip() == "hostctl: ServerError happened"
    debug = hostctl("--debug", "projects", "list")
    assert debug.exit_code == ExitCode.SERVER_ERROR
    assert "Traceback" in debug.stderr


def test_daemon_messages_print_as_sent(hostctl, monkeypatch):
    def answering(self, *, authenticated=True):
        body = {"error": "Conflict", "message": "name :rocket: [b]taken[/b]", "statusCode": 409}
        return client_answering(lambda request: httpx.Response(409, json=body))

    monkeypatch.setattr(AppContext, "client", answering)
    assert hostctl("projects", "list").stderr.strip() == "hostctl: name :rocket: [b]taken[/b]"


def test_ctrl_c_exits_130(hostctl, monkeypatch):
    def interrupted(self, *, authenticated=True):
        raise KeyboardInterrupt

    monkeypatch.setattr(AppContext, "client", interrupted)
    assert hostctl("projects", "list").exit_code == 130


def test_daemon_down_gives_the_hint_and_a_non_zero_code(tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    env = {"HOSTCTL_CONFIG_DIR": str(tmp_path), "HOSTCTL_API_URL": down, "HOSTCTL_TOKEN": "t"}
    result = run_process("projects", "list", env=env)
    assert result.returncode == ExitCode.UNREACHABLE
    assert "is hostd running? try `hostd serve`" in result.stderr
    login = run_process("login", "--email", "a@b.co", "--password-stdin", env=env, stdin="pw\n")
    assert login.returncode == ExitCode.UNREACHABLE


def test_not_logged_in_needs_no_daemon(tmp_path):
    env = {"HOSTCTL_CONFIG_DIR": str(tmp_path), "HOSTCTL_API_URL": "http://127.0.0.1:9"}
    result = run_process("projects", "list", env=env)
    assert result.returncode == ExitCode.NOT_LOGGED_IN
    assert "run `hostctl login`" in result.stderr

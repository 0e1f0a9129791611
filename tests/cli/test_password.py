"""`hostctl logout --all` and `hostctl password`: against a real hostd, and what they send
to a fake one (tests/cli/conftest.py); and a stream that hostd ends for its token."""

from __future__ import annotations

import json

import httpx
import keyring
import pytest

from hostctl.client import HostdClient
from hostctl.commands import common
from hostctl.credentials import SERVICE
from hostctl.errors import Unauthorized
from hostctl.exit_codes import ExitCode
from tests.cli.conftest import FAKE_URL, PASSWORD, FakeHostd, error, serve_fake
from tests.cli.test_projects import OLD_DAEMON_PROJECT

NEW_PASSWORD = "a-new-pass-1"


def login_token(client: httpx.Client, email: str, password: str = PASSWORD) -> str:
    resp = client.post("/api/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    return resp.json()["token"]


def me(client: httpx.Client, token: str) -> int:
    return client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


# --- against a real hostd -------------------------------------------------------------

def test_logout_all_revokes_every_token_and_forgets_this_one(hostctl, hostd, client):
    email = hostctl.register()
    stored = keyring.get_password(SERVICE, hostd.url)
    elsewhere = login_token(client, email)
    result = hostctl("logout", "--all")
    assert result.exit_code == 0, result.stderr
    assert "everywhere" in result.output
    assert keyring.get_password(SERVICE, hostd.url) is None
    assert me(client, stored) == 401 and me(client, elsewhere) == 401
    assert hostctl("whoami").exit_code == ExitCode.NOT_LOGGED_IN


def test_password_from_stdin_keeps_this_login_and_revokes_the_others(hostctl, hostd, client):
    email = hostctl.register()
    elsewhere = login_token(client, email)
    result = hostctl("password", input=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.output and NEW_PASSWORD not in result.output
    assert hostctl("whoami").exit_code == 0  # the stored token still works
    assert me(client, elsewhere) == 401
    assert login_token(client, email, NEW_PASSWORD)


def test_password_prompts_hidden_and_twice_on_a_terminal(hostctl, client, monkeypatch):
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    email = hostctl.register()
    answers = f"{PASSWORD}\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    result = hostctl("password", input=answers)
    assert result.exit_code == 0, result.stderr
    assert "Current password" in result.output and "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output and NEW_PASSWORD not in result.output, "hidden"
    assert login_token(client, email, NEW_PASSWORD)


def test_a_wrong_current_password_changes_nothing(hostctl, hostd, client):
    email = hostctl.register()
    result = hostctl("password", "--json", input=f"wrong-pass\n{NEW_PASSWORD}\n")
    assert result.exit_code == ExitCode.NOT_LOGGED_IN
    assert "current password is wrong" in result.stderr
    assert "hostctl login" not in result.stderr  # the token is fine, the password was not
    assert keyring.get_password(SERVICE, hostd.url)
    assert login_token(client, email)


def test_a_short_new_password_is_invalid(hostctl):
    hostctl.register()
    result = hostctl("password", input=f"{PASSWORD}\nabc\n")
    assert result.exit_code == ExitCode.INVALID
    assert "new_password" in result.stderr


@pytest.mark.parametrize("stdin", ["", f"{PASSWORD}\n", f"{PASSWORD}\n\n"])
def test_password_needs_two_lines_on_stdin(hostctl, stdin):
    hostctl.register()
    result = hostctl("password", input=stdin)
    assert result.exit_code == ExitCode.USAGE
    assert "on stdin" in result.output + result.stderr


# --- what reaches the daemon -------------------------------------------------------------

@pytest.fixture
def fake(monkeypatch) -> FakeHostd:
    keyring.set_password(SERVICE, FAKE_URL, "stored-token")
    return serve_fake(monkeypatch, FakeHostd([]))


def test_logout_all_calls_logout_all(cli, fake):
    fake.answers[("POST", "/api/auth/logout-all")] = httpx.Response(
        200, json={"message": "Logged out everywhere"})
    result = cli("logout", "--all", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["message"].startswith("logged out everywhere")
    assert fake.sent() == [("POST", "/api/auth/logout-all", None)]
    assert keyring.get_password(SERVICE, FAKE_URL) is None


def test_logout_all_with_a_dead_token_still_forgets_it(cli, fake):
    fake.answers[("POST", "/api/auth/logout-all")] = error(401, "Unauthorized", "revoked")
    assert cli("logout", "--all").exit_code == 0
    assert keyring.get_password(SERVICE, FAKE_URL) is None


def test_password_sends_both_in_the_body(cli, fake):
    fake.answers[("POST", "/api/auth/password")] = httpx.Response(
        200, json={"message": "Password changed"})
    result = cli("password", input=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.stderr
    assert fake.sent() == [("POST", "/api/auth/password",
                            {"current_password": PASSWORD, "new_password": NEW_PASSWORD})]
    assert fake.requests[0].headers["content-type"] == "application/json"
    assert keyring.get_password(SERVICE, FAKE_URL) == "stored-token"


def ending(*events: tuple[str, dict]) -> httpx.Response:
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return httpx.Response(200, content=body.encode(),
                          headers={"content-type": "text/event-stream"})


REVOKED_END = {"reason": "The token has been revoked: log in again", "error": "Unauthorized",
               "statusCode": 401}


def test_a_stream_ended_for_its_token_is_that_401(monkeypatch, cli):
    project = {**OLD_DAEMON_PROJECT, "id": "p1", "name": "shop"}
    fake = serve_fake(monkeypatch, FakeHostd([project]))
    fake.answers[("GET", "/api/projects/p1/logs")] = ending(
        ("log", {"line": "hello"}), ("end", REVOKED_END))
    result = cli("projects", "logs", "shop", "-f")
    assert result.exit_code == ExitCode.NOT_LOGGED_IN
    assert "hello" in result.stdout
    assert "revoked" in result.stderr and "hostctl login" in result.stderr


def test_a_stream_that_is_done_still_just_ends():
    answer = ending(("log", {"line": "built"}), ("end", {"reason": "deploy finished"}))
    client = HostdClient(FAKE_URL, "t", transport=httpx.MockTransport(lambda _: answer))
    assert list(client.follow_logs("p1", source="build")) == ["built"]
    revoked = ending(("connected", {"userId": "u"}), ("end", REVOKED_END))
    client = HostdClient(FAKE_URL, "t", transport=httpx.MockTransport(lambda _: revoked))
    with pytest.raises(Unauthorized, match="revoked"):
        list(client.events())

"""register → login → whoami → logout against a real hostd, and where the token is kept."""

from __future__ import annotations

import json
import stat

import keyring

from hostctl.credentials import SERVICE, TOKEN_FILE_NAME
from hostctl.exit_codes import ExitCode
from tests.cli.conftest import PASSWORD
from tests.support import unique_email


def test_register_login_whoami_logout_round_trip(hostctl, hostd):
    email = hostctl.register(name="Alice Example")
    assert keyring.get_password(SERVICE, hostd.url), "register stores the token in the keyring"

    whoami = hostctl("whoami")
    assert whoami.exit_code == 0 and email in whoami.output

    logout = hostctl("logout")
    assert logout.exit_code == 0, logout.stderr
    assert keyring.get_password(SERVICE, hostd.url) is None

    after = hostctl("whoami")
    assert after.exit_code == ExitCode.NOT_LOGGED_IN
    assert "run `hostctl login`" in after.stderr

    login = hostctl("login", "--email", email, "--password-stdin", input=PASSWORD + "\n")
    assert login.exit_code == 0, login.stderr
    assert email in hostctl("whoami").output


def test_logout_revokes_the_token_on_the_daemon(hostctl, hostd, client):
    hostctl.register()
    token = keyring.get_password(SERVICE, hostd.url)
    assert hostctl("logout").exit_code == 0
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_prompts_work_without_flags(hostctl):
    email = unique_email("prompt")
    answers = f"{email}\nPat\n{PASSWORD}\n{PASSWORD}\n"
    result = hostctl("register", input=answers)
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.output, "the password prompt is hidden"


def test_file_fallback_without_a_keyring_is_private_and_announced(hostctl, hostd, isolated,
                                                                   no_keyring):
    hostctl.register()
    token_file = isolated / TOKEN_FILE_NAME
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated.stat().st_mode) == 0o700
    assert hostd.url in json.loads(token_file.read_text())
    whoami = hostctl("whoami")
    assert whoami.exit_code == 0
    assert "no OS keyring" not in whoami.stderr, "the warning is given once, when storing"
    assert hostctl("logout").exit_code == 0
    assert not token_file.exists()


def test_register_announces_the_file_fallback(hostctl, no_keyring):
    email = unique_email("headless")
    result = hostctl("register", "--email", email, "--name", "H", "--password-stdin",
                     input=PASSWORD + "\n")
    assert result.exit_code == 0
    assert "no OS keyring available" in result.stderr and "0600" in result.stderr


def test_hostctl_token_overrides_the_stores(hostctl, user):
    result = hostctl("whoami", "--json", env={"HOSTCTL_TOKEN": user["token"]})
    assert result.exit_code == 0
    assert json.loads(result.stdout)["user"]["email"] == user["user"]["email"]


def test_wrong_password_is_an_auth_error_without_the_login_hint(hostctl):
    email = hostctl.register()
    result = hostctl("login", "--email", email, "--password-stdin", input="wrong-password\n")
    assert result.exit_code == ExitCode.NOT_LOGGED_IN
    assert "hostctl login" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, "one line on stderr"


def test_register_twice_is_a_conflict(hostctl):
    email = hostctl.register()
    result = hostctl("register", "--email", email, "--name", "B", "--password-stdin",
                     input=PASSWORD + "\n")
    assert result.exit_code == ExitCode.CONFLICT


def test_a_short_password_is_invalid(hostctl):
    result = hostctl("register", "--email", unique_email(), "--name", "C", "--password-stdin",
                     input="abc\n")
    assert result.exit_code == ExitCode.INVALID
    assert result.stderr.startswith("hostctl: ")


def test_json_output_parses(hostctl):
    email = unique_email("json")
    result = hostctl("register", "--email", email, "--name", "J", "--password-stdin", "--json",
                     input=PASSWORD + "\n")
    body = json.loads(result.stdout)
    assert body["user"]["email"] == email and body["token_store"] == "keyring"
    assert "token" not in body, "the token itself is never printed"

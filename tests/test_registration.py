"""Who makes accounts: HOSTD_REGISTRATION=closed refuses the API's registration, and
`hostd users add` (the operator's) makes them, with the daemon running or not."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.support import HostdServer, client_for, register, unique_email
from tests.test_auth_api import assert_error

PASSWORD = "operator-made-1"


def users_add(server: HostdServer, email: str, name: str = "Ada Lovelace",
              password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    """`hostd users add` with the daemon's environment, the password on stdin (never argv)."""
    return subprocess.run(
        [sys.executable, "-m", "hostd", "users", "add", "--email", email, "--name", name],
        env=server.env(), cwd=server.data_dir, input=password + "\n",
        capture_output=True, text=True, timeout=60, check=False)


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/auth/login", json={"email": email, "password": password})


def test_closed_registration_is_a_403_naming_the_setting(make_hostd) -> None:
    server = make_hostd(HOSTD_REGISTRATION="closed")
    with client_for(server) as client:
        for body in ({"email": unique_email(), "password": PASSWORD, "name": "Eve"},
                     {"email": "not-an-email"}):  # refused before the body is read
            message = assert_error(client.post("/api/auth/register", json=body),
                                   403, "Forbidden")["message"]
            assert "HOSTD_REGISTRATION=closed" in message and "hostd users add" in message
        email = unique_email("ada")
        done = users_add(server, email)
        assert done.returncode == 0, done.stderr
        assert email in done.stdout
        resp = login(client, email)
        assert resp.status_code == 200, resp.text
        assert resp.json()["user"]["name"] == "Ada Lovelace"


def test_open_registration_is_the_default(make_hostd) -> None:
    with client_for(make_hostd()) as client:
        register(client)


def test_users_add_works_with_the_daemon_stopped(make_hostd) -> None:
    server = make_hostd()
    server.stop()
    email = unique_email("offline")
    done = users_add(server, email)
    assert done.returncode == 0, done.stderr
    server.start()
    with client_for(server) as client:
        assert login(client, email).status_code == 200
        assert login(client, email, "wrong-password").status_code == 401


def test_users_add_on_a_data_dir_no_daemon_has_used_yet(tmp_path) -> None:
    # The first command on a fresh install: the daemon started after it is a fresh
    # install too, with an id of its own, not the label of an install upgraded from old.
    from tests.plugins import postgres

    server = HostdServer(data_dir=tmp_path / "fresh", own_instance=True,
                         database_url=postgres.new_database())
    server.data_dir.mkdir()
    email = unique_email("first")
    done = users_add(server, email)
    assert done.returncode == 0, done.stderr
    try:
        server.start()
        assert server.instance.startswith("i-")
        with client_for(server) as client:
            assert login(client, email).status_code == 200
    finally:
        server.kill9()


def test_users_add_refuses_what_registration_refuses(make_hostd) -> None:
    server = make_hostd()
    email = unique_email("twice")
    assert users_add(server, email).returncode == 0
    cases = [
        (email, PASSWORD, "already exists"),
        ("not-an-email", PASSWORD, "email"),
        (unique_email(), "short", "at least 6 characters"),
    ]
    for address, password, reason in cases:
        done = users_add(server, address, password=password)
        assert done.returncode == 2, done.stdout
        assert reason in done.stderr and "Traceback" not in done.stderr
        assert password not in done.stderr

"""One-off commands run in a fresh container of the project's current release, with its
config vars and no router traffic; the output streams back, the exit code comes through
(to hostctl's own), a time limit stops it, and nothing is left behind. A run is one of its
user's streams (HOSTD_MAX_STREAMS_PER_USER) and ends with its token: logout, logout-all
and a password change stop it and remove its container."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

import docker
import httpx
import pytest

from tests.deploy.conftest import create, wait_status
from tests.deploy.test_tenant_network import APP
from tests.support import HostdServer, auth, logged_in
from tests.test_auth_api import assert_error
from tests.test_token_lifecycle import (
    EVENTS,
    NEW_PASSWORD,
    PASSWORD,
    change_password,
    login,
    sse_events,
    stream_client,
    until_closed,
)

STREAMS_PER_USER = 10  # HOSTD_MAX_STREAMS_PER_USER's default: the deploy daemon's
SLEEPER = {"command": ["sh", "-c", "echo started; exec sleep 120"]}


def run(api: httpx.Client, project_id: str, body: dict) -> list[tuple[str, dict]]:
    """The run's events, in order."""
    events: list[tuple[str, dict]] = []
    with api.stream("POST", f"/api/projects/{project_id}/run", json=body,
                    timeout=httpx.Timeout(30, read=60)) as reply:
        assert reply.status_code == 200, reply.read()
        name = ""
        for line in reply.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def runs_left(engine: docker.DockerClient, project_id: str) -> list:
    return engine.containers.list(all=True, filters={"label": f"hostd.run-of={project_id}"})


def test_a_command_runs_once_with_the_config_vars_and_its_exit_code(
        deploy_hostd: HostdServer, engine: docker.DockerClient, repo) -> None:
    with logged_in(deploy_hostd) as api, logged_in(deploy_hostd) as other:
        project = wait_status(api, create(api, "runner", repo(APP), "static")["id"],
                              {"running", "error"})
        pid = project["id"]
        assert project["status"] == "running", project["status_reason"]
        assert api.patch(f"/api/projects/{pid}/env", json={"env": {"GREETING": "hi"}}
                         ).status_code == 200
        events = run(api, pid, {"command": ["sh", "-c", "echo hello $GREETING; exit 3"]})
        assert events == [("output", {"line": "hello hi"}),
                          ("exit", {"code": 3, "timed_out": False})]
        assert runs_left(engine, pid) == []

        started = time.monotonic()
        events = run(api, pid, {"command": ["sleep", "30"], "timeout": 2})
        assert events[-1] == ("exit", {"code": None, "timed_out": True})
        assert time.monotonic() - started < 15 and runs_left(engine, pid) == []

        assert_error(api.post(f"/api/projects/{pid}/run", json={"command": "ls"}), 400,
                     "ValidationError")
        assert_error(api.post(f"/api/projects/{pid}/run", json={"command": []}), 400,
                     "ValidationError")
        assert_error(other.post(f"/api/projects/{pid}/run", json={"command": ["id"]}), 404,
                     "NotFound")


def test_hostctl_run_streams_and_exits_with_the_commands_code(
        deploy_hostd: HostdServer, engine: docker.DockerClient, repo) -> None:
    with logged_in(deploy_hostd) as api:
        project = wait_status(api, create(api, "clirun", repo(APP), "static")["id"],
                              {"running", "error"})
        assert project["status"] == "running", project["status_reason"]
        token = api.headers["Authorization"].removeprefix("Bearer ")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTCTL_")}
        env.update(HOSTCTL_API_URL=deploy_hostd.url, HOSTCTL_TOKEN=token,
                   PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
        done = subprocess.run(
            [sys.executable, "-c", "from hostctl.cli import main; main()", "run", "clirun",
             "--", "sh", "-c", "echo out; echo err >&2; exit 7"],
            env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 7, (done.stdout, done.stderr)
        assert done.stdout.split() == ["out", "err"] or sorted(done.stdout.split()) == \
            ["err", "out"], done.stdout
        assert runs_left(engine, project["id"]) == []


def test_a_project_without_a_release_has_nothing_to_run(deploy_hostd: HostdServer) -> None:
    with logged_in(deploy_hostd) as api:
        project = wait_status(api, create(api, "norelease", "file:///nonexistent/repo",
                                          "static")["id"], {"running", "error"})
        reply = api.post(f"/api/projects/{project['id']}/run", json={"command": ["id"]})
        assert_error(reply, 409, "ConflictError")
        assert "no release" in reply.json()["message"]


def runs_gone(engine: docker.DockerClient, project_id: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while runs_left(engine, project_id):  # bounded: timeout
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.fixture
def running(deploy_hostd: HostdServer, repo) -> dict:
    """A running project of a new user: {id, email}."""
    with logged_in(deploy_hostd) as api:
        project = wait_status(api, create(api, "sleeper", repo(APP), "static")["id"],
                              {"running", "error"})
        assert project["status"] == "running", project["status_reason"]
        return {"id": project["id"], "email": api.get("/api/auth/me").json()["user"]["email"]}


def test_a_run_ends_with_its_token(deploy_hostd: HostdServer, engine: docker.DockerClient,
                                   running: dict) -> None:
    """Logout, logout-all and a password change (made with another token) each end a run
    within seconds: `end` with the 401 its token now gets, and its container goes."""
    pid, email = running["id"], running["email"]
    password = PASSWORD
    for ending in ("logout", "logout-all", "password"):
        with stream_client(deploy_hostd) as c:
            token, other = login(c, email, password), login(c, email, password)
            with c.stream("POST", f"/api/projects/{pid}/run", json=SLEEPER,
                          headers=auth(token)) as reply:
                assert reply.status_code == 200, reply.read()
                events = sse_events(reply)
                assert next(events) == ("output", {"line": "started"})
                if ending == "logout":
                    assert c.post("/api/auth/logout", headers=auth(token)).status_code == 200
                elif ending == "logout-all":
                    assert c.post("/api/auth/logout-all", headers=auth(other)).status_code == 200
                else:
                    assert change_password(c, other, password).status_code == 200
                    password = NEW_PASSWORD
                rest, _ = until_closed(events)
        assert rest and rest[-1][0] == "end", (ending, rest)
        assert rest[-1][1]["statusCode"] == 401, (ending, rest)
        assert runs_gone(engine, pid), f"the run outlived {ending}"


def test_a_run_counts_as_one_of_its_users_streams(deploy_hostd: HostdServer,
                                                  running: dict) -> None:
    pid = running["id"]
    with stream_client(deploy_hostd) as c, contextlib.ExitStack() as held:
        token = login(c, running["email"])
        reply = held.enter_context(c.stream("POST", f"/api/projects/{pid}/run", json=SLEEPER,
                                            headers=auth(token)))
        assert reply.status_code == 200, reply.read()
        assert next(sse_events(reply)) == ("output", {"line": "started"})
        for _ in range(STREAMS_PER_USER - 1):
            stream = held.enter_context(c.stream("GET", EVENTS, headers=auth(token)))
            assert stream.status_code == 200
        with c.stream("GET", EVENTS, headers=auth(token)) as extra:
            assert extra.status_code == 429  # before reading: a stream would never end
            extra.read()
            assert_error(extra, 429, "RateLimited")
        more = c.post(f"/api/projects/{pid}/run", json=SLEEPER, headers=auth(token))
        assert_error(more, 429, "RateLimited")

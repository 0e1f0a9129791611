"""One-off commands run in a fresh container of the project's current release, with its
config vars and no router traffic; the output streams back, the exit code comes through
(to hostctl's own), a time limit stops it, and nothing is left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import docker
import httpx

from tests.deploy.conftest import create, wait_status
from tests.deploy.test_tenant_network import APP
from tests.support import HostdServer, logged_in
from tests.test_auth_api import assert_error


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

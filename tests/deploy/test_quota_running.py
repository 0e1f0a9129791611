"""The memory quota on the real engine: a running project reserves its share, so does one
crashed and waiting out its restart backoff (hostd brings it back, never refused), and a
stop releases it (hostd.control.quota)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import docker
import httpx
import pytest

from tests.deploy.conftest import make_repo, wait_status
from tests.plugins.engine import own_daemon
from tests.support import logged_in
from tests.test_auth_api import assert_error

pytestmark = pytest.mark.docker
NOWHERE = "file:///nonexistent/quota.git"  # its deploy fails at the clone


def site(tmp_path: Path, exit_after: int | None = None) -> str:
    """httpd in the background; with `exit_after`, the container exits 1 that many seconds
    after each start (a crash the supervisor restarts, with a growing backoff)."""
    wait = f"sleep {exit_after}; exit 1" if exit_after else "exec sleep 2147483647"
    return make_repo(tmp_path / uuid.uuid4().hex[:8], {"Dockerfile": (
        "FROM hostd/busybox:1\n"
        f"RUN mkdir -p /www && echo {uuid.uuid4().hex} > /www/index.html\n"
        f'CMD ["sh", "-c", "httpd -p $PORT -h /www; {wait}"]\n')})


def create(api: httpx.Client, url: str) -> httpx.Response:
    return api.post("/api/projects", json={"name": f"m-{uuid.uuid4().hex[:8]}",
                                           "github_url": url, "template": "static"})


def deployed(api: httpx.Client, url: str) -> dict:
    resp = create(api, url)
    assert resp.status_code == 201, resp.text
    project = wait_status(api, resp.json()["project"]["id"], {"running", "error"})
    assert project["status"] == "running", project
    return project


def until_crashed(api: httpx.Client, project_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        project = api.get(f"/api/projects/{project_id}").json()["project"]
        if project["status"] == "error" and "next start in" in (project["status_reason"] or ""):
            return project
        time.sleep(0.1)
    raise AssertionError(f"{project_id} never crashed: {project}")


def test_running_and_crashed_projects_reserve_and_a_stop_releases(
        engine: docker.DockerClient, base_images: None, tmp_path: Path) -> None:
    with own_daemon(engine, tmp_path / "data", HOSTD_CONTAINER_MEMORY_MB="512",
                    HOSTD_MAX_MEMORY_MB_PER_USER="1024") as server, logged_in(server) as api:
        deployed(api, site(tmp_path))
        crashing = deployed(api, site(tmp_path, exit_after=4))
        until_crashed(api, crashing["id"])
        # Down and waiting to be started again: its share is still taken.
        message = assert_error(create(api, NOWHERE), 403, "QuotaExceeded")["message"]
        assert "2 of yours do" in message
        assert api.post(f"/api/containers/{crashing['id']}/stop").status_code == 200
        failing = create(api, NOWHERE)  # the stop released it
        assert failing.status_code == 201, failing.text
        wait_status(api, failing.json()["project"]["id"], {"error"})
        assert create(api, NOWHERE).status_code == 201  # a failed deploy reserves nothing

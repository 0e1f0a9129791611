"""Per-user quotas over the API (hostd.control.quota): projects and container memory.
Repositories that do not exist: deploys fail at their clone, no engine needed."""

from __future__ import annotations

import threading
import time
import uuid

import httpx

from tests.support import client_for, logged_in
from tests.test_auth_api import assert_error

NOWHERE = "file:///nonexistent/quota-repo.git"


def post_project(client: httpx.Client, name: str | None = None) -> httpx.Response:
    return client.post("/api/projects", json={
        "name": name or f"q-{uuid.uuid4().hex[:8]}", "github_url": NOWHERE,
        "template": "static"})


def created(client: httpx.Client) -> dict:
    resp = post_project(client)
    assert resp.status_code == 201, resp.text
    return resp.json()["project"]


def settled(client: httpx.Client, project: dict, timeout: float = 30.0) -> dict:
    """The project once its (failing) deploy is over."""
    deadline = time.monotonic() + timeout
    while (now := client.get(f"/api/projects/{project['id']}").json()["project"])[
            "status"] == "deploying":
        assert time.monotonic() < deadline, now
        time.sleep(0.05)
    return now


def test_the_project_after_the_last_allowed_is_refused(make_hostd) -> None:
    server = make_hostd(HOSTD_MAX_PROJECTS_PER_USER="2")
    with logged_in(server) as alice, logged_in(server) as bob:
        created(alice), created(alice)
        body = assert_error(post_project(alice), 403, "QuotaExceeded")
        assert "2 projects" in body["message"]
        assert "HOSTD_MAX_PROJECTS_PER_USER" in body["message"]
        assert len(alice.get("/api/projects").json()["projects"]) == 2, "nothing stored"
        created(bob)  # a quota per user: bob has his own
        first = settled(alice, alice.get("/api/projects").json()["projects"][0])
        assert alice.delete(f"/api/projects/{first['id']}").status_code == 200
        created(alice)  # a deleted project frees its place


def test_concurrent_creates_at_the_limit_do_not_all_get_through(make_hostd) -> None:
    server = make_hostd(HOSTD_MAX_PROJECTS_PER_USER="3", HOSTD_MAX_QUEUED_DEPLOYS="50")
    with logged_in(server) as alice:
        barrier = threading.Barrier(10)

        def create(_: int) -> int:
            with client_for(server, headers=dict(alice.headers)) as client:
                barrier.wait(timeout=10)
                return post_project(client).status_code

        statuses: list[int] = []
        threads = [threading.Thread(target=lambda: statuses.append(create(0)))
                   for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(statuses) == [201] * 3 + [403] * 7
        assert len(alice.get("/api/projects").json()["projects"]) == 3


def test_memory_is_reserved_by_every_project_that_should_run(make_hostd) -> None:
    # 512 MB each, 1024 MB a user: two projects may want to run at once.
    server = make_hostd(HOSTD_CONTAINER_MEMORY_MB="512", HOSTD_MAX_MEMORY_MB_PER_USER="1024")
    with logged_in(server) as alice:
        first, second = created(alice), created(alice)
        body = assert_error(post_project(alice), 403, "QuotaExceeded")
        assert "1536 MB" in body["message"] and "1024 MB" in body["message"]
        assert "HOSTD_MAX_MEMORY_MB_PER_USER" in body["message"]
        assert "HOSTD_CONTAINER_MEMORY_MB" in body["message"]
        # A failed deploy still wants to run (its owner asked): it keeps its share until
        # it is stopped.
        settled(alice, first)
        assert_error(post_project(alice), 403, "QuotaExceeded")
        assert alice.post(f"/api/containers/{first['id']}/stop").status_code == 200
        third = created(alice)
        # Starting or deploying the stopped one again would need a third share.
        for resp in (alice.post(f"/api/containers/{first['id']}/start"),
                     alice.patch(f"/api/projects/{first['id']}/status",
                                 json={"status": "running"}),
                     alice.post(f"/api/projects/{first['id']}/deploy")):
            assert "Starting" in assert_error(resp, 403, "QuotaExceeded")["message"]
        assert alice.get(f"/api/projects/{first['id']}").json()["project"][
            "desired_status"] == "stopped"
        # What reserves already is never refused: a redeploy of a project that should run.
        settled(alice, second)
        assert alice.post(f"/api/projects/{second['id']}/deploy").status_code == 202
        settled(alice, second), settled(alice, third)
        assert alice.delete(f"/api/projects/{third['id']}").status_code == 200
        assert alice.post(f"/api/projects/{first['id']}/deploy").status_code == 202

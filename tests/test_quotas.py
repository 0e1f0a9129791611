"""Per-user quotas over the API (hostd.control.quota): projects and container memory.
Repositories that do not exist: deploys fail at their clone, no engine needed. A deploy
held in `deploying` clones from a loopback server that answers nothing until the test
lets it go (then git fails at once)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx

from hostd.config import Settings
from tests.support import client_for, logged_in
from tests.test_auth_api import assert_error

NOWHERE = "file:///nonexistent/quota-repo.git"


def post_project(client: httpx.Client, name: str | None = None,
                 url: str = NOWHERE) -> httpx.Response:
    return client.post("/api/projects", json={
        "name": name or f"q-{uuid.uuid4().hex[:8]}", "github_url": url,
        "template": "static"})


def created(client: httpx.Client, url: str = NOWHERE) -> dict:
    resp = post_project(client, url=url)
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


def failed(client: httpx.Client) -> dict:
    """A new project whose first deploy has failed (at its clone)."""
    project = settled(client, created(client))
    assert project["status"] == "error" and project["desired_status"] == "running", project
    return project


@contextlib.contextmanager
def silent_git_server() -> Iterator[str]:
    """The URL of a git server that accepts connections and answers nothing until the
    block ends: a clone from it keeps its deploy `deploying` until then, and fails then."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/held/repo.git"
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in held:
            conn.close()


# Memory in shares of 512 MB, two a user; loopback git servers allowed.
TWO_SHARES = {"HOSTD_CONTAINER_MEMORY_MB": "512", "HOSTD_MAX_MEMORY_MB_PER_USER": "1024",
              "HOSTD_ALLOW_PRIVATE_REPOS": "true", "HOSTD_MAX_QUEUED_DEPLOYS": "50"}


def test_twenty_five_projects_whose_deploys_fail_are_all_created(make_hostd) -> None:
    # The defaults: a person's failed experiments never use up their account.
    server = make_hostd()
    with logged_in(server) as alice:
        for number in range(25):
            resp = post_project(alice, name=f"try-{number}")
            assert resp.status_code == 201, (number, resp.text)
            assert settled(alice, resp.json()["project"])["status"] == "error"
        assert len(alice.get("/api/projects").json()["projects"]) == 25


def test_failed_and_stopped_projects_reserve_no_memory(make_hostd) -> None:
    server = make_hostd(**TWO_SHARES)
    with logged_in(server) as alice:
        first, _, _ = failed(alice), failed(alice), failed(alice)
        assert alice.post(f"/api/containers/{first['id']}/stop").status_code == 200
        with silent_git_server() as held:
            created(alice, held), created(alice, held)  # two shares: all there is


def test_memory_is_reserved_while_a_project_is_being_started(make_hostd) -> None:
    server = make_hostd(**TWO_SHARES)
    with logged_in(server) as alice:
        before = failed(alice)
        with silent_git_server() as held:
            one, two = created(alice, held), created(alice, held)
            body = assert_error(post_project(alice), 403, "QuotaExceeded")
            assert "1536 MB" in body["message"] and "1024 MB" in body["message"]
            assert "runs or is being started" in body["message"]
            assert "2 of yours do" in body["message"]
            assert "HOSTD_MAX_MEMORY_MB_PER_USER" in body["message"]
            assert "HOSTD_CONTAINER_MEMORY_MB" in body["message"]
            # A deploy or start of the failed one would be a third container starting.
            for resp in (alice.post(f"/api/projects/{before['id']}/deploy"),
                         alice.post(f"/api/containers/{before['id']}/restart"),
                         alice.patch(f"/api/projects/{before['id']}/status",
                                     json={"status": "running"})):
                assert "Starting" in assert_error(resp, 403, "QuotaExceeded")["message"]
            # What reserves already is never refused: a redeploy of one being started.
            assert alice.post(f"/api/projects/{one['id']}/deploy").status_code == 202
        # The server lets go: both deploys fail, and their shares are free again.
        settled(alice, one), settled(alice, two)
        assert alice.post(f"/api/projects/{before['id']}/deploy").status_code == 202
        created(alice)


def test_concurrent_creates_at_the_memory_limit_do_not_all_get_through(make_hostd) -> None:
    server = make_hostd(**{**TWO_SHARES, "HOSTD_MAX_MEMORY_MB_PER_USER": "1536"})
    with logged_in(server) as alice, silent_git_server() as held:
        barrier = threading.Barrier(10)
        statuses: list[int] = []

        def create() -> None:
            with client_for(server, headers=dict(alice.headers)) as client:
                barrier.wait(timeout=10)
                statuses.append(post_project(client, url=held).status_code)

        threads = [threading.Thread(target=create) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(statuses) == [201] * 3 + [403] * 7


def test_the_defaults_follow_the_machine(tmp_path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    assert settings.max_memory_mb_per_user == physical
    assert settings.max_projects_per_user >= 100

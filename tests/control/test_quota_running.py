"""The per-user memory quota on FakeRuntime (hostd.control.quota): a project reserves
HOSTD_CONTAINER_MEMORY_MB while it is deploying (queued included), running, or crashed
and waiting out its restart backoff; a stop or a failed deploy reserves nothing; what
reserves already (a redeploy, the supervisor's restart) is never refused."""

from __future__ import annotations

from typing import Any

import httpx

from tests.control.conftest import SITE, deployed, until
from tests.fakes.daemon import fake_daemon
from tests.test_auth_api import assert_error

NOWHERE = "file:///nonexistent/quota.git"  # its deploy fails at the clone
TWO_PROJECTS = {"HOSTD_CONTAINER_MEMORY_MB": 512, "HOSTD_MAX_MEMORY_MB_PER_USER": 1024}
ONE_PROJECT = {"HOSTD_CONTAINER_MEMORY_MB": 512, "HOSTD_MAX_MEMORY_MB_PER_USER": 512}


def create(client: httpx.Client, name: str, url: str = NOWHERE) -> httpx.Response:
    return client.post("/api/projects", json={"name": name, "github_url": url,
                                              "template": "static"})


def refused(resp: httpx.Response, reserving: int) -> str:
    message = str(assert_error(resp, 403, "QuotaExceeded")["message"])
    assert f"{reserving} of yours do" in message, message
    return message


def failed_deploy(client: httpx.Client, name: str) -> dict[str, Any]:
    resp = create(client, name)
    assert resp.status_code == 201, resp.text
    return until(client, resp.json()["project"]["id"],
                 lambda p: p["status"] == "error" and not p["deploying"])


def test_running_and_crashed_projects_reserve_and_a_stop_releases(tmp_path, repo):
    with fake_daemon(tmp_path / "data", **TWO_PROJECTS) as daemon, \
            daemon.logged_in() as client:
        deployed(client, repo, "steady")
        crashing = deployed(client, repo, "crashing")
        (replica,) = daemon.fake.replicas(crashing["id"])
        daemon.fake.exit_on_start(crashing["id"], code=1)  # every restart crashes too
        daemon.fake.crash(replica.id, exit_code=1)
        until(client, crashing["id"], lambda p: "next start in" in (p["status_reason"] or ""))
        # Down and waiting to be started again: its share is still taken.
        refused(create(client, "third"), 2)
        starts = len(daemon.fake.calls_of("start"))
        until(client, crashing["id"], lambda _: len(daemon.fake.calls_of("start")) > starts)
        # The supervisor's restart at the limit was not refused; the owner's stop releases.
        assert client.post(f"/api/containers/{crashing['id']}/stop").status_code == 200
        failed_deploy(client, "third")
        failed_deploy(client, "fourth")  # a failed deploy reserves nothing


def test_a_deploying_project_reserves_until_it_is_gone(tmp_path, repo):
    with fake_daemon(tmp_path / "data", **ONE_PROJECT) as daemon, \
            daemon.logged_in() as client:
        daemon.fake.slow_next_build(5.0)
        resp = create(client, "slow", repo(SITE))
        assert resp.status_code == 201, resp.text
        pid = resp.json()["project"]["id"]
        until(client, pid, lambda p: p["deploy_step"] == "build")
        refused(create(client, "second"), 1)
        assert client.delete(f"/api/projects/{pid}").status_code == 200
        failed_deploy(client, "second")


def test_what_reserves_already_is_never_refused_at_the_limit(tmp_path, repo):
    with fake_daemon(tmp_path / "data", **ONE_PROJECT) as daemon, \
            daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        refused(create(client, "second"), 1)
        resp = client.post(f"/api/projects/{pid}/deploy")  # a redeploy takes nothing more
        assert resp.status_code == 202, resp.text
        until(client, pid, lambda p: not p["deploying"] and p["release"] == 2)
        resp = client.post(f"/api/containers/{pid}/restart")
        assert resp.status_code == 200, resp.text
        assert client.get(f"/api/projects/{pid}").json()["project"]["status"] == "running"


def test_a_start_is_refused_at_the_limit_until_another_stops(tmp_path, repo):
    with fake_daemon(tmp_path / "data", **TWO_PROJECTS) as daemon, \
            daemon.logged_in() as client:
        first = deployed(client, repo, "first")["id"]
        later = deployed(client, repo, "later")["id"]
        assert client.post(f"/api/containers/{later}/stop").status_code == 200
        third = deployed(client, repo, "third")["id"]
        message = refused(client.patch(f"/api/projects/{later}/status",
                                       json={"status": "running"}), 2)
        assert message.startswith("Starting later would reserve 1536 MB"), message
        assert client.get(f"/api/projects/{later}").json()["project"]["status"] == "stopped"
        assert client.post(f"/api/containers/{third}/stop").status_code == 200
        resp = client.patch(f"/api/projects/{later}/status", json={"status": "running"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["project"]["status"] == "running"
        assert {r.project_id for r in daemon.fake.replicas() if r.running} == {first, later}

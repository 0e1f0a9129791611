"""`web` scaled to 0 (Heroku's `ps:scale web=0`), on FakeRuntime: every web replica goes
through the drain, the worker runs on, the project stays `running` with a reason saying
how to bring web back, the router answers 503 "no web process" (nothing listens on the
fake's ports, so a route that still pointed anywhere would answer 502); nothing brings
web.1 back — a daemon restart, the engine's replicas gone, a redeploy, a config change, a
rollback, a stop and start; scaled back to 1, web.1 starts health-gated and is routed."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import Session

from hostd.router.table import load_routes
from hostd.store.models import Project
from tests.control.conftest import commit_files, deployed, redeployed, until
from tests.control.test_formation import APP, processes, running_of, scale, settled
from tests.control.test_replica_routes import handle_of
from tests.fakes.daemon import fake_daemon
from tests.fakes.runtime import FakeRuntime

ZERO = "web is scaled to 0"


def through_router(daemon: Any, client: httpx.Client, project_id: str) -> httpx.Response:
    host = f"site.{handle_of(daemon, project_id)}.localhost"
    port = daemon.services.settings.router_port
    return httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=10)


def web1_of(daemon: Any, project_id: str) -> tuple[str | None, int | None]:
    with Session(daemon.services.db) as session:
        project = session.get(Project, project_id)
        assert project is not None
        return project.container_id, project.host_port


def at_zero(daemon: Any, client: httpx.Client, pid: str, workers: int = 1) -> dict[str, Any]:
    """The project once web runs no replica and `workers` do, checked as web=0 reads."""
    settled(daemon, client, pid, 0, workers)
    project = until(client, pid, lambda p: ZERO in (p["status_reason"] or ""))
    assert project["status"] == "running" and project["desired_status"] == "running"
    assert "hostctl scale site web=1" in project["status_reason"]
    assert web1_of(daemon, pid) == (None, None)
    assert not [name for name in processes(client, pid) if name.startswith("web.")]
    resp = through_router(daemon, client, pid)
    assert resp.status_code == 503 and "no web process running" in resp.text, resp.text
    return project


def test_web_scaled_to_zero_stops_every_web_replica_and_back_to_one_serves(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        assert scale(client, pid, web=2).status_code == 200
        settled(daemon, client, pid, 2, 1)
        (worker,) = running_of(daemon, pid, "worker")
        resp = scale(client, pid, web=0)
        assert resp.status_code == 200, resp.text
        assert resp.json()["formation"] == {"web": 0, "worker": 1}
        at_zero(daemon, client, pid)
        assert running_of(daemon, pid, "worker") == [worker], "the worker ran on"
        resp = scale(client, pid, web=1)
        assert resp.status_code == 200, resp.text
        back = until(client, pid, lambda p: p["status_reason"] is None)
        assert back["status"] == "running"
        settled(daemon, client, pid, 1, 1)
        web1, port = web1_of(daemon, pid)
        assert web1 is not None and port is not None
        assert processes(client, pid)["web.1"]["serving"]
        route = load_routes(daemon.services.db)[("site", handle_of(daemon, pid))]
        assert route.serving and route.ports == (port,)
        assert through_router(daemon, client, pid).status_code == 502  # routed: no listener


def test_a_web_one_that_never_answers_leaves_web_at_zero(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        assert scale(client, pid, web=0).status_code == 200
        at_zero(daemon, client, pid)
        daemon.fake.never_serves(pid)
        resp = scale(client, pid, web=1)
        assert resp.status_code == 409 and "as it was" in resp.json()["message"], resp.text
        assert client.get(f"/api/projects/{pid}/formation").json()["formation"]["web"] == 0
        at_zero(daemon, client, pid)


def test_web_zero_holds_across_redeploy_config_change_rollback_and_start(daemon, repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo, files=APP)
        pid = project["id"]
        assert scale(client, pid, web=0).status_code == 200
        at_zero(daemon, client, pid)
        commit_files(project["github_url"], {"index.html": "<h1>v2</h1>\n"})
        after = redeployed(client, pid)
        assert after["release"] == 2 and ZERO in after["status_reason"], after
        assert running_of(daemon, pid, "worker")[0].labels  # the new release's worker
        at_zero(daemon, client, pid)
        resp = client.patch(f"/api/projects/{pid}/env", json={"env": {"A": "1"}})
        assert resp.status_code == 200, resp.text
        at_zero(daemon, client, pid)
        resp = client.post(f"/api/projects/{pid}/rollback", json={"version": 1})
        assert resp.status_code == 200, resp.text
        at_zero(daemon, client, pid)
        assert client.post(f"/api/containers/{pid}/stop").status_code == 200
        assert client.post(f"/api/containers/{pid}/start").status_code == 200
        at_zero(daemon, client, pid)
        assert client.post(f"/api/containers/{pid}/restart").status_code == 200
        at_zero(daemon, client, pid)


def test_web_zero_holds_across_a_daemon_restart_and_lost_replicas(tmp_path, repo):
    fake, data = FakeRuntime(), tmp_path / "data"
    with fake_daemon(data, fake) as first, first.logged_in() as client:
        token = client.headers["Authorization"].removeprefix("Bearer ")
        pid = deployed(client, repo, files=APP)["id"]
        assert scale(client, pid, web=0).status_code == 200
        at_zero(first, client, pid)
    fake.go_away(kill_replicas=True)  # the machine rebooted
    fake.come_back()
    with fake_daemon(data, fake) as second, second.client(token) as client:
        second.services.reconciler.reconcile()  # as at its start, once more: nothing new
        at_zero(second, client, pid)
        assert not [r for r in fake.replicas(pid) if r.process == "web"]
        resp = scale(client, pid, web=1)
        assert resp.status_code == 200, resp.text
        settled(second, client, pid, 1, 1)


def test_the_memory_quota_counts_no_web_at_zero(tmp_path, repo):
    with fake_daemon(tmp_path / "data", HOSTD_MAX_MEMORY_MB_PER_USER=512,
                     HOSTD_CONTAINER_MEMORY_MB=256) as daemon, daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]  # web.1 + worker.1: 512 MB
        assert scale(client, pid, worker=2).status_code == 403
        assert scale(client, pid, web=0).status_code == 200
        assert scale(client, pid, worker=2).status_code == 200  # web's 256 MB freed
        settled(daemon, client, pid, 0, 2)


def test_a_first_deploy_with_web_at_zero_runs_only_the_worker(daemon, repo):
    with daemon.logged_in() as client:
        resp = client.post("/api/projects", json={
            "name": "site", "github_url": repo(APP), "template": "static",
            "formation": {"web": 0}})
        assert resp.status_code == 201, resp.text
        pid = resp.json()["project"]["id"]
        until(client, pid, lambda p: p["status"] == "running" and not p["deploying"])
        at_zero(daemon, client, pid)
        assert not [args for args in daemon.fake.calls_of("run")
                    if args[0].process == "web"], "no web container was ever made"


def test_web_scaled_to_zero_while_stopped_starts_without_web(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        assert client.post(f"/api/containers/{pid}/stop").status_code == 200
        (old_web1, _) = web1_of(daemon, pid)
        resp = scale(client, pid, web=0)
        assert resp.status_code == 200 and "next start" in resp.json()["message"], resp.text
        assert client.post(f"/api/containers/{pid}/start").status_code == 200
        at_zero(daemon, client, pid)
        assert daemon.fake.inspect(old_web1) is None, "the stopped web.1 was removed"

"""Every process type runs, at the project's formation, on FakeRuntime (issue 26): a
Procfile's worker starts after web, is restarted after a crash with its own backoff, keeps
its quantity across deploys, config changes and rollbacks; a Procfile without web deploys
with no route; web scales up health-gated and down through the drain; a failed rollout or
scale leaves what served serving; the memory quota counts every replica."""

from __future__ import annotations

import json
from typing import Any

import httpx

from hostd.naming import PROCESS_LABEL, REPLICA_LABEL
from tests.control.conftest import SITE, commit_files, deployed, redeployed, until

PROCFILE = "web: ./serve\nworker: ./work  # the queue\n"
APP_JSON = json.dumps({"formation": {"worker": {"quantity": 1}}})
APP = {**SITE, "Procfile": PROCFILE, "app.json": APP_JSON}


def processes(client: httpx.Client, project_id: str) -> dict[str, dict[str, Any]]:
    resp = client.get(f"/api/projects/{project_id}/processes")
    assert resp.status_code == 200, resp.text
    return {p["name"]: p for p in resp.json()["processes"]}


def running_of(daemon: Any, project_id: str, process: str) -> list[Any]:
    return sorted((r for r in daemon.fake.replicas(project_id)
                   if r.running and r.process == process),
                  key=lambda r: int(r.labels.get(REPLICA_LABEL, "1")))


def scale(client: httpx.Client, project_id: str, **quantities: int) -> httpx.Response:
    return client.patch(f"/api/projects/{project_id}/formation", json=quantities)


def settled(daemon: Any, client: httpx.Client, pid: str, web: int, worker: int) -> None:
    """Until exactly `web` and `worker` replicas run (retired ones drain on threads)."""
    until(client, pid, lambda _: (len(running_of(daemon, pid, "web")),
                                  len(running_of(daemon, pid, "worker"))) == (web, worker))


def test_a_worker_runs_beside_web_from_app_json_with_its_label_and_no_port(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        settled(daemon, client, pid, 1, 1)
        (worker,) = running_of(daemon, pid, "worker")
        assert worker.labels[PROCESS_LABEL] == "worker" and worker.address is None
        spec = next(args[0] for args in daemon.fake.calls_of("run")
                    if args[0].process == "worker")
        assert spec.command == ["sh", "-c", "./work"]
        shown = processes(client, pid)
        assert set(shown) == {"web.1", "worker.1"}
        assert shown["worker.1"]["state"] == "running" and shown["web.1"]["serving"]
        formation = client.get(f"/api/projects/{pid}/formation").json()["formation"]
        assert formation == {"web": 1, "worker": 1}


def test_formation_changes_are_checked_and_owner_scoped(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        for body, words in [({"clock": 1}, "'clock' is not a process type"),
                            ({"worker": 21}, "from 0 to 20"), ({"worker": True}, "whole"),
                            ({"worker": 1.5}, "whole"), ({"web": -1}, "from 0 to 20"),
                            ({}, "at least one")]:
            resp = client.patch(f"/api/projects/{pid}/formation", json=body)
            assert resp.status_code == 400, resp.text
            assert resp.json()["error"] == "ValidationError" and words in \
                resp.json()["message"], resp.text
        with daemon.logged_in() as stranger:
            assert scale(stranger, pid, worker=2).status_code == 404
            assert stranger.get(f"/api/projects/{pid}/processes").status_code == 404


def test_scale_worker_and_web_up_and_down(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        resp = scale(client, pid, worker=2, web=3)
        assert resp.status_code == 200, resp.text
        assert resp.json()["formation"] == {"web": 3, "worker": 2}
        shown = {p["name"]: p for p in resp.json()["processes"]}
        assert {n for n, p in shown.items() if p["type"] == "web" and p["serving"]} == \
            {"web.1", "web.2", "web.3"}, shown
        settled(daemon, client, pid, 3, 2)
        resp = scale(client, pid, web=1, worker=0)
        assert resp.status_code == 200, resp.text
        settled(daemon, client, pid, 1, 0)
        assert set(processes(client, pid)) == {"web.1"}


def test_a_web_replica_that_never_serves_fails_the_scale_and_changes_nothing(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        daemon.fake.never_serves(pid)
        resp = scale(client, pid, web=2)
        assert resp.status_code == 409 and "did not come up" in resp.json()["message"]
        daemon.fake.clear_faults()
        assert client.get(f"/api/projects/{pid}/formation").json()["formation"]["web"] == 1
        settled(daemon, client, pid, 1, 1)


def test_a_crashed_worker_restarts_with_its_own_backoff(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        settled(daemon, client, pid, 1, 1)
        (worker,) = running_of(daemon, pid, "worker")
        daemon.fake.crash(worker.id, exit_code=4)
        until(client, pid, lambda p: p["restarts"] == 1 and daemon.fake.inspect(worker.id)
              .running)
        project = client.get(f"/api/projects/{pid}").json()["project"]
        assert project["status"] == "running" and project["last_exit"]["code"] == 4
        shown = processes(client, pid)
        assert (shown["worker.1"]["restarts"], shown["worker.1"]["last_exit_code"]) == (1, 4)
        assert shown["web.1"]["restarts"] == 0
        # A second crash in a row waits 2 s (its streak), not the web's.
        daemon.fake.crash(worker.id, exit_code=4)
        until(client, pid, lambda p: p["restarts"] == 2, timeout=10)


def test_the_formation_outlives_config_changes_deploys_and_rollbacks(daemon, repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo, files=APP)
        pid = project["id"]
        assert scale(client, pid, worker=2).status_code == 200
        resp = client.patch(f"/api/projects/{pid}/env", json={"env": {"A": "1"}})
        assert resp.status_code == 200, resp.text
        settled(daemon, client, pid, 1, 2)
        assert all(daemon.fake.env_of(r.id).get("A") == "1"
                   for r in running_of(daemon, pid, "worker"))
        commit_files(project["github_url"], {"Procfile": PROCFILE + "clock: ./tick\n"})
        assert redeployed(client, pid)["release"] == 3
        settled(daemon, client, pid, 1, 2)
        assert client.get(f"/api/projects/{pid}/formation").json()["formation"] == \
            {"web": 1, "worker": 2, "clock": 0}
        resp = client.post(f"/api/projects/{pid}/rollback", json={"version": 1})
        assert resp.status_code == 200, resp.text
        settled(daemon, client, pid, 1, 2)
        assert {r["release"] for r in processes(client, pid).values()
                if r["type"] == "worker"} == {4}


def test_stop_and_start_take_every_replica(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        assert scale(client, pid, web=2).status_code == 200
        assert client.post(f"/api/containers/{pid}/stop").status_code == 200
        settled(daemon, client, pid, 0, 0)
        assert client.post(f"/api/containers/{pid}/start").status_code == 200
        settled(daemon, client, pid, 2, 1)


def test_a_procfile_without_web_deploys_with_no_route(daemon, repo):
    with daemon.logged_in() as client:
        files = {**SITE, "Procfile": "worker: ./work\n", "app.json": APP_JSON}
        project = deployed(client, repo, files=files)
        assert "no web process" in project["status_reason"], project
        settled(daemon, client, project["id"], 0, 1)
        assert set(processes(client, project["id"])) == {"worker.1"}


def test_a_redeploy_starts_web_first_then_the_others_and_a_failure_keeps_the_old(daemon,
                                                                                 repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo, files=APP)
        pid = project["id"]
        assert scale(client, pid, web=2).status_code == 200
        before = len(daemon.fake.calls_of("run"))
        commit_files(project["github_url"], {"index.html": "<h1>v2</h1>\n"})
        assert redeployed(client, pid)["release"] == 2
        order = [args[0].process for args in daemon.fake.calls_of("run")[before:]]
        assert order == ["web", "web", "worker"], order
        settled(daemon, client, pid, 2, 1)
        old = {r.id for r in daemon.fake.replicas(pid)}
        daemon.fake.never_serves()
        commit_files(project["github_url"], {"index.html": "<h1>v3</h1>\n"})
        after = redeployed(client, pid)
        assert after["release"] == 2 and after["last_deploy"]["status"] == "failed", after
        daemon.fake.clear_faults()
        settled(daemon, client, pid, 2, 1)
        assert {r.id for r in daemon.fake.replicas(pid) if r.running} == old


def test_web_replicas_start_a_batch_at_a_time_each_answering_first(tmp_path, repo):
    """HOSTD_ROLLOUT_BATCH=2 (the default): web.2 to web.5 start two by two, a batch
    started only once the one before answers; the workers start at once."""
    from tests.fakes.daemon import fake_daemon
    with fake_daemon(tmp_path / "b", HOSTD_ROLLOUT_BATCH=2) as daemon, \
            daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        before = len(daemon.fake.calls)
        assert scale(client, pid, web=5, worker=3).status_code == 200
        steps = [(name, args[0].process if name == "run" else "")
                 for name, args in daemon.fake.calls[before:]
                 if name in ("run", "wait_serving")]
        assert steps == [("run", "web"), ("run", "web"), ("wait_serving", ""),
                         ("wait_serving", ""), ("run", "web"), ("run", "web"),
                         ("wait_serving", ""), ("wait_serving", ""), ("run", "worker"),
                         ("run", "worker")], steps
        settled(daemon, client, pid, 5, 3)


def test_the_memory_quota_counts_every_replica(tmp_path, repo):
    from tests.fakes.daemon import fake_daemon
    with fake_daemon(tmp_path / "q", HOSTD_CONTAINER_MEMORY_MB=128,
                     HOSTD_MAX_MEMORY_MB_PER_USER=256) as daemon, daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]  # web 1 + worker 1: 256 MB
        resp = scale(client, pid, web=2)
        assert resp.status_code == 403, resp.text
        assert "384 MB" in resp.json()["message"]
        assert scale(client, pid, worker=0).status_code == 200
        assert scale(client, pid, web=2).status_code == 200


def test_the_reconciler_brings_back_every_replica_at_start(tmp_path, repo):
    from tests.fakes.daemon import fake_daemon
    from tests.fakes.runtime import FakeRuntime
    fake, data = FakeRuntime(), tmp_path / "data"
    with fake_daemon(data, fake) as daemon, daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        assert scale(client, pid, web=2).status_code == 200
        token = client.headers["Authorization"]
    down = [r for r in fake.replicas(pid) if r.running]
    assert len(down) == 3
    for replica in down:  # the daemon is away: nobody sees them go
        fake.crash(replica.id, exit_code=137)
    with fake_daemon(data, fake) as daemon, daemon.client() as client:
        client.headers["Authorization"] = token
        settled(daemon, client, pid, 2, 1)
        assert {r.id for r in fake.replicas(pid) if r.running} == {r.id for r in down}
        assert {n: p["state"] for n, p in processes(client, pid).items()} == \
            {"web.1": "running", "web.2": "running", "worker.1": "running"}


def test_an_engine_outage_brings_every_replica_back_with_no_crash_counted(daemon, repo):
    from hostd.control.supervision import ENGINE_UNAVAILABLE
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        settled(daemon, client, pid, 1, 1)
        daemon.fake.go_away(kill_replicas=True)
        until(client, pid, lambda p: p["status_reason"] == ENGINE_UNAVAILABLE)
        daemon.fake.come_back()
        back = until(client, pid, lambda p: p["status"] == "running")
        settled(daemon, client, pid, 1, 1)
        assert back["restarts"] == 0 and processes(client, pid)["worker.1"]["restarts"] == 0


def test_a_delete_removes_every_replica_and_row(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        assert scale(client, pid, web=2).status_code == 200
        assert client.delete(f"/api/projects/{pid}").status_code == 200
        assert daemon.fake.replicas(pid) == []
        from sqlmodel import Session, select

        from hostd.store.models.processes import ProcessReplica
        with Session(daemon.services.db) as session:
            assert session.exec(select(ProcessReplica)).all() == []


def test_a_release_without_web_and_back_by_deploy_and_rollback(daemon, repo):
    from hostd.control.supervision import ENGINE_UNAVAILABLE
    with daemon.logged_in() as client:
        project = deployed(client, repo, files=APP)
        pid = project["id"]
        commit_files(project["github_url"], {"Procfile": "worker: ./work\n"})
        after = redeployed(client, pid)
        assert after["release"] == 2 and "no web process" in after["status_reason"], after
        settled(daemon, client, pid, 0, 1)
        daemon.fake.go_away(kill_replicas=True)
        until(client, pid, lambda p: p["status_reason"] == ENGINE_UNAVAILABLE)
        daemon.fake.come_back()
        until(client, pid, lambda p: "no web process" in (p["status_reason"] or ""))
        settled(daemon, client, pid, 0, 1)
        resp = client.post(f"/api/projects/{pid}/rollback", json={"version": 1})
        assert resp.status_code == 200, resp.text
        back = until(client, pid, lambda p: p["status"] == "running"
                     and p["status_reason"] is None)
        assert back["release"] == 3
        settled(daemon, client, pid, 1, 1)


def test_a_scale_waits_for_a_deploy_under_way(daemon, repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo, files=APP)
        daemon.fake.slow_next_build(2)
        assert client.post(f"/api/projects/{project['id']}/deploy").status_code == 202
        resp = scale(client, project["id"], worker=2)
        assert resp.status_code == 409 and "deploying" in resp.json()["message"], resp.text


def test_a_create_may_give_the_first_formation(daemon, repo):
    with daemon.logged_in() as client:
        for bad, words in [({"a b": 1}, "not a process type name"), ({"worker": 30}, "0 to 20"),
                           ({"web": -1}, "0 to 20"), ({"worker": "1"}, "formation")]:
            resp = client.post("/api/projects", json={
                "name": "bad", "github_url": repo(APP), "template": "static",
                "formation": bad})
            assert resp.status_code == 400 and words in resp.json()["message"], resp.text
        files = {**SITE, "Procfile": PROCFILE}  # no app.json: the create's formation rules
        resp = client.post("/api/projects", json={"name": "jobs", "github_url": repo(files),
                                                  "template": "static",
                                                  "formation": {"worker": 2}})
        assert resp.status_code == 201, resp.text
        pid = resp.json()["project"]["id"]
        until(client, pid, lambda p: p["status"] == "running" and not p["deploying"])
        settled(daemon, client, pid, 1, 2)


def test_a_project_from_before_replica_rows_gets_its_web_row_at_start(tmp_path, repo):
    from sqlmodel import Session, delete

    from hostd.store.models.processes import ProcessReplica
    from tests.fakes.daemon import fake_daemon
    from tests.fakes.runtime import FakeRuntime
    fake, data = FakeRuntime(), tmp_path / "data"
    with fake_daemon(data, fake) as daemon, daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        token = client.headers["Authorization"]
        with Session(daemon.services.db) as session:  # as schema v10 leaves a v9 project
            session.exec(delete(ProcessReplica))  # type: ignore[call-overload]
            session.commit()
    with fake_daemon(data, fake) as daemon, daemon.client() as client:
        client.headers["Authorization"] = token
        until(client, pid, lambda _: set(processes(client, pid)) == {"web.1"})
        assert processes(client, pid)["web.1"]["serving"]


def test_a_failed_redeploy_of_an_app_without_web_changes_nothing(daemon, repo):
    with daemon.logged_in() as client:
        files = {**SITE, "Procfile": "worker: ./work\n", "app.json": APP_JSON}
        pid = deployed(client, repo, files=files)["id"]
        settled(daemon, client, pid, 0, 1)
        (worker,) = running_of(daemon, pid, "worker")
        daemon.fake.fail_next_build(log_tail=["boom"])
        after = redeployed(client, pid)
        assert after["status"] == "running" and after["last_deploy"]["status"] == "failed"
        assert "the last deploy failed" in after["status_reason"], after
        assert [r.id for r in running_of(daemon, pid, "worker")] == [worker.id]

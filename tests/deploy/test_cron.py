"""Scheduled jobs on the engine: a job's run is a real container of the current release
with its config vars, its exit code and output are recorded with the run, its container
is gone afterwards, and a failing job shows on the project. (The scheduling branches —
policies, missed times, the time limit, rollbacks — are tests/control/test_cron.py's, on
FakeRuntime with a clock the test moves.)

The scenario of minutes (`make scenarios`, marked `scenario`, not in `make test`): jobs on
`* * * * *` run at their times, twice in about two minutes, a `forbid` job is skipped
while its last run goes on, and a failing one shows on the project."""

from __future__ import annotations

import json
import time
from typing import Any

import docker
import httpx
import pytest

from hostd.store.cron import job_id
from tests.deploy.conftest import create, wait_status
from tests.deploy.test_run import runs_left
from tests.deploy.test_tenant_network import APP
from tests.support import HostdServer, logged_in

EVERY_MINUTE = "* * * * *"


def with_cron(*jobs: dict[str, str]) -> dict[str, str]:
    return {**APP, "app.json": "// as Dokku reads it\n" + json.dumps({"cron": list(jobs)})}


def runs(api: httpx.Client, pid: str, job: str) -> list[dict[str, Any]]:
    resp = api.get(f"/api/projects/{pid}/cron/{job}/runs")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["runs"])


def test_a_job_run_by_hand_runs_in_a_container_and_is_recorded(
        deploy_hostd: HostdServer, engine: docker.DockerClient, repo) -> None:
    command = "echo tick $STAGE; echo to stderr >&2; exit 3"
    jid = job_id(command, "@yearly")
    with logged_in(deploy_hostd) as api:
        project = create(api, "cronhand", repo(with_cron(
            {"command": command, "schedule": "@yearly"})), "static")
        pid = project["id"]
        wait_status(api, pid, {"running"})
        assert api.patch(f"/api/projects/{pid}/env", json={"env": {"STAGE": "prod"}}
                         ).status_code == 200
        (job,) = api.get(f"/api/projects/{pid}/cron").json()["jobs"]
        assert (job["id"], job["command"]) == (jid, command), "kept by the config change"
        resp = api.post(f"/api/projects/{pid}/cron/{jid}/run")
        assert resp.status_code == 202, resp.text
        deadline = time.monotonic() + 60
        while not (found := runs(api, pid, jid))[0]["finished_at"]:
            assert time.monotonic() < deadline, found
            time.sleep(0.2)
        (run,) = found
        assert (run["status"], run["exit_code"], run["trigger"]) == ("failed", 3, "manual")
        assert sorted(run["log"]) == ["tick prod", "to stderr"], run
        assert runs_left(engine, pid) == []
        shown = api.get(f"/api/projects/{pid}").json()["project"]
        assert shown["cron"] == {"failing": [jid]} and shown["status"] == "running"


@pytest.mark.scenario
def test_jobs_run_at_their_times_forbid_skips_and_a_failure_shows(
        deploy_hostd: HostdServer, engine: docker.DockerClient, repo) -> None:
    tick, slow, broken = "echo tick", "sleep 75", "echo broken; exit 1"
    jobs = [{"command": tick, "schedule": EVERY_MINUTE},
            {"command": slow, "schedule": EVERY_MINUTE, "concurrency_policy": "forbid"},
            {"command": broken, "schedule": EVERY_MINUTE}]
    ids = [job_id(command, EVERY_MINUTE) for command in (tick, slow, broken)]
    with logged_in(deploy_hostd) as api:
        pid = create(api, "cronclock", repo(with_cron(*jobs)), "static")["id"]
        wait_status(api, pid, {"running"})
        deadline = time.monotonic() + 200  # two minutes' times, and a minute to start
        while True:
            ticks = [r for r in runs(api, pid, ids[0]) if r["status"] == "ok"]
            skipped = [r for r in runs(api, pid, ids[1]) if r["status"] == "skipped"]
            if len(ticks) >= 2 and skipped:
                break
            assert time.monotonic() < deadline, (runs(api, pid, ids[0]),
                                                 runs(api, pid, ids[1]))
            time.sleep(2)
        first, second = sorted(r["scheduled_for"] for r in ticks)[:2]
        assert first[:17] < second[:17] and first.endswith(":00.000Z"), (first, second)
        assert ticks[0]["log"] == ["tick"]
        assert "forbid" in skipped[0]["reason"]
        project = api.get(f"/api/projects/{pid}").json()["project"]
        assert project["cron"]["failing"] == [ids[2]], project
        assert api.delete(f"/api/projects/{pid}").status_code == 200
    assert runs_left(engine, pid) == []

"""Scheduled jobs (app.json `cron`) on FakeRuntime, with the scheduler's clock in the
test's hands (HOSTD_CRON_TICK long: the test moves the clock and calls `tick()`): a due
job runs as a one-off container of the current release; `forbid` skips an overlap,
`replace` stops the earlier run; times missed while the engine (or hostd) was down run
once; a failing job shows on the project; the time limit kills; jobs follow rollbacks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from hostd.control import schedule
from hostd.control.oneoff import RUN_OF_LABEL
from hostd.control.runtime import Replica
from hostd.events import CRON_RUN, STATUS_CHANGED, Event
from hostd.store.cron import job_id
from hostd.store.models import CronRun
from tests.control.conftest import SITE, WAIT_S, commit_files, deployed, redeployed, until
from tests.fakes.daemon import FakeDaemon, fake_daemon
from tests.fakes.runtime import FakeRuntime
from tests.test_auth_api import assert_error

EVERY_MINUTE = "* * * * *"


class Clock:
    """The scheduler's clock: stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def to_next(self, cron_schedule: str = EVERY_MINUTE) -> datetime:
        """A second past the schedule's next time; that time. Never behind the real
        clock: a release made (at the real time) after this clock's time must not be
        newer than the time it is asked to run at."""
        self.now = max(self.now, datetime.now(UTC))
        due = schedule.next_after(cron_schedule, self.now)
        self.now = due + timedelta(seconds=1)
        return due


def app_json(*jobs: dict[str, Any]) -> str:
    return "// Dokku reads comments\n" + json.dumps({"cron": list(jobs)})


def job(command: str, policy: str = "allow", when: str = EVERY_MINUTE) -> dict[str, Any]:
    return {"command": command, "schedule": when, "concurrency_policy": policy}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def start(tmp_path: Path, clock: Clock, fake: FakeRuntime | None = None,
          **settings: Any) -> Any:
    return fake_daemon(tmp_path / "data", fake, HOSTD_CRON_TICK=60, **settings)


@pytest.fixture
def daemon(tmp_path: Path, clock: Clock) -> Iterator[FakeDaemon]:
    with start(tmp_path, clock) as running:
        running.services.cron.clock = clock
        yield running


def with_jobs(client: httpx.Client, repo: Callable[[dict[str, str]], str],
              *jobs: dict[str, Any], name: str = "site") -> str:
    """A project deployed with these cron jobs: its id."""
    return str(deployed(client, repo, name, {**SITE, "app.json": app_json(*jobs)})["id"])


def runs(client: httpx.Client, pid: str, job: str) -> list[dict[str, Any]]:
    resp = client.get(f"/api/projects/{pid}/cron/{job}/runs")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["runs"])


def until_runs(client: httpx.Client, pid: str, job: str,
               ok: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    while not ok(found := runs(client, pid, job)):
        assert time.monotonic() < deadline, f"never reached: {found}"
        time.sleep(0.05)
    return found


def cron_runs_of(fake: FakeRuntime, pid: str) -> list[Replica]:
    return [r for r in fake.replicas() if r.labels.get(RUN_OF_LABEL) == pid and r.running]


def statuses(found: list[dict[str, Any]]) -> list[str]:
    return [run["status"] for run in found]


def test_a_due_job_runs_in_a_one_off_container_of_the_release(daemon, repo, clock):
    daemon.fake.script_command(["sh", "-c", "python task.py"], output=["did it"])
    with daemon.logged_in() as client:
        pid = with_jobs(client, repo, job("python task.py"))
        jid = job_id("python task.py", EVERY_MINUTE)
        (listed,) = client.get(f"/api/projects/{pid}/cron").json()["jobs"]
        assert (listed["id"], listed["command"], listed["schedule"]) == \
            (jid, "python task.py", EVERY_MINUTE)
        assert listed["concurrency_policy"] == "allow" and listed["last_run"] is None
        daemon.services.cron.tick()
        assert runs(client, pid, jid) == [], "not before its time"
        due = clock.to_next()
        daemon.services.cron.tick()
        (run,) = until_runs(client, pid, jid, lambda r: r and r[0]["status"] == "ok")
        assert run["scheduled_for"] == due.isoformat(timespec="milliseconds")[:-6] + "Z"
        assert (run["exit_code"], run["trigger"], run["log"]) == (0, "schedule", ["did it"])
        spec = daemon.fake.calls_of("run_once")[0][0]
        (web,) = daemon.fake.replicas(pid)
        assert spec.command == ["sh", "-c", "python task.py"] and spec.image == web.image
        assert cron_runs_of(daemon.fake, pid) == [], "its container is removed"
        daemon.services.cron.tick()
        assert len(runs(client, pid, jid)) == 1, "once per time"
        (listed,) = client.get(f"/api/projects/{pid}/cron").json()["jobs"]
        assert listed["last_run"]["status"] == "ok"
        assert listed["next_run"] == (due + timedelta(minutes=1)).isoformat(
            timespec="milliseconds")[:-6] + "Z"


def test_forbid_skips_a_run_while_the_last_one_runs(daemon, repo, clock):
    with daemon.logged_in() as client:
        pid = with_jobs(client, repo, job("./long", "forbid"))
        jid = job_id("./long", EVERY_MINUTE)
        clock.to_next()
        daemon.services.cron.tick()
        (first,) = until_runs(client, pid, jid, lambda r: len(r) == 1)
        clock.to_next()
        daemon.services.cron.tick()
        found = until_runs(client, pid, jid, lambda r: len(r) == 2)
        assert statuses(found) == ["skipped", "running"]
        assert "concurrency_policy forbid" in found[0]["reason"]
        resp = client.post(f"/api/projects/{pid}/cron/{jid}/run")
        assert "forbid" in assert_error(resp, 409, "ConflictError")["message"]
        (one,) = cron_runs_of(daemon.fake, pid)
        daemon.fake.finish(one.id, exit_code=0)
        found = until_runs(client, pid, jid, lambda r: r[-1]["status"] == "ok")
        assert client.get(f"/api/projects/{pid}").json()["project"]["cron"] == {"failing": []}


def test_replace_stops_the_run_under_way(daemon, repo, clock):
    with daemon.logged_in() as client:
        pid = with_jobs(client, repo, job("./long", "replace"))
        jid = job_id("./long", EVERY_MINUTE)
        clock.to_next()
        daemon.services.cron.tick()
        (old,) = until_runs(client, pid, jid, lambda r: len(r) == 1)
        (first,) = cron_runs_of(daemon.fake, pid)
        daemon.fake.write_log(first.id, "half way")
        clock.to_next()
        daemon.services.cron.tick()
        found = until_runs(client, pid, jid, lambda r: len(r) == 2 and r[1]["finished_at"])
        assert statuses(found) == ["running", "killed"]
        assert "replaced" in found[1]["reason"] and found[1]["log"] == ["half way"]
        assert daemon.fake.inspect(first.id) is None
        assert len(cron_runs_of(daemon.fake, pid)) == 1, "the new one runs"


def test_times_missed_while_the_engine_was_down_run_once(daemon, repo, clock):
    daemon.fake.script_command(["sh", "-c", "./report"])
    with daemon.logged_in() as client:
        pid = with_jobs(client, repo, job("./report"))
        jid = job_id("./report", EVERY_MINUTE)
        clock.to_next()
        daemon.services.cron.tick()
        until_runs(client, pid, jid, lambda r: statuses(r) == ["ok"])
        daemon.fake.go_away()
        for _ in range(4):
            clock.to_next()
            clock.now += timedelta(seconds=10)  # past the scheduler's wait for the engine
            daemon.services.cron.tick()
        assert len(runs(client, pid, jid)) == 1, "nothing starts while the engine is away"
        daemon.fake.come_back()
        clock.now += timedelta(seconds=10)
        daemon.services.cron.tick()
        found = until_runs(client, pid, jid, lambda r: len(r) == 3 and r[0]["finished_at"])
        assert statuses(found) == ["ok", "missed", "ok"]
        assert found[1]["reason"].startswith("3 runs from "), found[1]
        daemon.services.cron.tick()
        assert len(runs(client, pid, jid)) == 3, "once, not once per missed time"


def test_a_time_missed_while_hostd_was_down_runs_once_at_its_start(tmp_path, repo, clock):
    fake = FakeRuntime()
    fake.script_command(["sh", "-c", "./report"])
    jid = job_id("./report", EVERY_MINUTE)
    with start(tmp_path, clock, fake) as daemon, daemon.logged_in() as client:
        daemon.services.cron.clock = clock
        pid = with_jobs(client, repo, job("./report"))
        token = client.headers["Authorization"]
        clock.to_next()
        daemon.services.cron.tick()
        until_runs(client, pid, jid, lambda r: statuses(r) == ["ok"])
    clock.now += timedelta(minutes=2)
    with start(tmp_path, clock, fake) as daemon, daemon.client() as client:
        client.headers["Authorization"] = token
        daemon.services.cron.clock = clock
        daemon.services.cron.tick()
        found = until_runs(client, pid, jid, lambda r: len(r) == 3 and r[0]["finished_at"])
        assert statuses(found) == ["ok", "missed", "ok"]
        daemon.services.cron.tick()
        assert len(runs(client, pid, jid)) == 3


def test_a_failing_job_shows_on_the_project_until_it_succeeds(daemon, repo, clock):
    events: list[Event] = []
    daemon.services.hub.listen(events.append)
    daemon.fake.script_command(["sh", "-c", "./sync"], exit_code=2, output=["no route"])
    with daemon.logged_in() as client:
        pid = with_jobs(client, repo, job("./sync"))
        jid = job_id("./sync", EVERY_MINUTE)
        clock.to_next()
        daemon.services.cron.tick()
        project = until(client, pid, lambda p: p["cron"]["failing"] == [jid])
        assert project["status"] == "running", "the app itself is fine"
        (run,) = runs(client, pid, jid)
        assert (run["status"], run["exit_code"], run["reason"]) == \
            ("failed", 2, "exited with code 2")
        assert run["log"] == ["no route"]
        deadline = time.monotonic() + WAIT_S
        while not any(e.name == STATUS_CHANGED and e.data["cron"] == {"failing": [jid]}
                      for e in events):
            assert time.monotonic() < deadline, events
            time.sleep(0.02)
        ended = [e.data for e in events if e.name == CRON_RUN]
        assert ended[0]["projectId"] == pid and ended[0]["run"]["status"] == "failed"
        daemon.fake.script_command(["sh", "-c", "./sync"], exit_code=0)
        resp = client.post(f"/api/projects/{pid}/cron/{jid}/run")
        assert resp.status_code == 202, resp.text
        assert resp.json()["run"]["trigger"] == "manual"
        until(client, pid, lambda p: p["cron"]["failing"] == [])


def test_a_run_past_the_time_limit_is_killed(tmp_path, repo, clock):
    with start(tmp_path, clock, HOSTD_CRON_TIMEOUT=1) as daemon, \
            daemon.logged_in() as client:
        daemon.services.cron.clock = clock
        pid = with_jobs(client, repo, job("sleep 600"))
        jid = job_id("sleep 600", EVERY_MINUTE)
        clock.to_next()
        daemon.services.cron.tick()
        (run,) = until_runs(client, pid, jid, lambda r: r and r[0]["finished_at"])
        assert run["status"] == "killed" and "time limit (1 s" in run["reason"], run
        assert cron_runs_of(daemon.fake, pid) == []
        until(client, pid, lambda p: p["cron"]["failing"] == [jid])


def test_jobs_follow_the_release_through_config_changes_and_rollbacks(daemon, repo, clock):
    with daemon.logged_in() as client:
        pid = with_jobs(client, repo, job("./a"))
        a, b = job_id("./a", EVERY_MINUTE), job_id("./b", "@daily")

        def listed() -> list[str]:
            return [j["id"] for j in client.get(f"/api/projects/{pid}/cron").json()["jobs"]]

        assert listed() == [a]
        assert client.patch(f"/api/projects/{pid}/env", json={"env": {"X": "1"}}).status_code \
            == 200
        assert listed() == [a], "a config change keeps the release's image, and its jobs"
        url = client.get(f"/api/projects/{pid}").json()["project"]["github_url"]
        commit_files(url, {"app.json": app_json(job("./b", when="@daily"))})
        assert redeployed(client, pid)["release"] == 3
        assert listed() == [b]
        assert client.post(f"/api/projects/{pid}/rollback", json={"version": 1}).status_code \
            == 200
        assert listed() == [a]


def test_a_bad_schedule_fails_the_deploy_and_the_old_jobs_stay(daemon, repo, clock):
    with daemon.logged_in() as client:
        pid = with_jobs(client, repo, job("./a"))
        url = client.get(f"/api/projects/{pid}").json()["project"]["github_url"]
        commit_files(url, {"app.json": app_json(job("./b", when="0 0 31 2 *"))})
        after = redeployed(client, pid)
        assert after["release"] == 1 and after["last_deploy"]["status"] == "failed"
        assert "cron[0].schedule" in after["last_deploy"]["reason"]
        jobs = client.get(f"/api/projects/{pid}/cron").json()["jobs"]
        assert [j["command"] for j in jobs] == ["./a"]


def test_cron_routes_are_the_owners_only(daemon, repo, clock):
    with daemon.logged_in() as client, daemon.logged_in() as other:
        pid = with_jobs(client, repo, job("./a"))
        jid = job_id("./a", EVERY_MINUTE)
        for method, path in [("GET", "cron"), ("GET", f"cron/{jid}/runs"),
                             ("POST", f"cron/{jid}/run")]:
            assert_error(other.request(method, f"/api/projects/{pid}/{path}"), 404, "NotFound")
        assert_error(client.post(f"/api/projects/{pid}/cron/nope/run"), 404, "NotFound")
        assert_error(client.get(f"/api/projects/{pid}/cron/nope/runs"), 404, "NotFound")
        assert daemon.fake.calls_of("run_once") == []


def test_runs_are_bounded_in_number_output_and_at_once(tmp_path, repo, clock):
    settings = {"HOSTD_CRON_LOG_KB": 1, "HOSTD_CRON_RUNS_KEPT": 2,
                "HOSTD_CRON_RUNS_PER_USER": 1}
    with start(tmp_path, clock, **settings) as daemon, daemon.logged_in() as client:
        daemon.services.cron.clock = clock
        daemon.fake.script_command(["sh", "-c", "./chatty"],
                                   output=[f"line {n:04} " + "x" * 90 for n in range(3000)])
        pid = with_jobs(client, repo, job("./chatty"), job("./long"))
        chatty, long = job_id("./chatty", EVERY_MINUTE), job_id("./long", EVERY_MINUTE)
        daemon.fake.script_command(["sh", "-c", "./long"])  # the first time, it ends at once
        for _ in range(3):
            clock.to_next()
            daemon.services.cron.tick()
            until_runs(client, pid, chatty, lambda r: r[0]["finished_at"])
        found = runs(client, pid, chatty)
        with Session(daemon.services.db) as session:
            stored = session.exec(select(CronRun).where(CronRun.job_id == chatty)).all()
        assert len(found) == len(stored) == 2, "the newest HOSTD_CRON_RUNS_KEPT only"
        kept = "\n".join(found[0]["log"]).encode()
        assert 900 < len(kept) <= 1024 and found[0]["log"][-1].startswith("line 2999 ")
        daemon.fake.clear_faults()  # ./chatty and ./long run on from now
        clock.to_next()
        daemon.services.cron.tick()
        (busy,) = cron_runs_of(daemon.fake, pid)
        newest = [runs(client, pid, chatty)[0], runs(client, pid, long)[0]]
        assert sorted(statuses(newest)) == ["running", "skipped"]
        skipped = next(run for run in newest if run["status"] == "skipped")
        assert "HOSTD_CRON_RUNS_PER_USER" in skipped["reason"]
        daemon.fake.finish(busy.id)


def test_a_job_in_maintenance_waits_for_a_hand(daemon, repo, clock):
    daemon.fake.script_command(["sh", "-c", "./paused"])
    with daemon.logged_in() as client:
        pid = with_jobs(client, repo, {**job("./paused"), "maintenance": True})
        jid = job_id("./paused", EVERY_MINUTE)
        (listed,) = client.get(f"/api/projects/{pid}/cron").json()["jobs"]
        assert (listed["maintenance"], listed["next_run"]) == (True, None)
        clock.to_next()
        daemon.services.cron.tick()
        assert runs(client, pid, jid) == [], "not at its times"
        assert client.post(f"/api/projects/{pid}/cron/{jid}/run").status_code == 202
        until_runs(client, pid, jid, lambda r: statuses(r) == ["ok"])

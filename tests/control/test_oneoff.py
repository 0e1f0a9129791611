"""One-off runs (`POST /api/projects/:id/run`) on FakeRuntime: the output lines and the
exit code stream back (SSE `output {line}`, then `exit {code, timed_out}`), a time limit
kills the run, a user runs at most HOSTD_RUNS_PER_USER at once, the run gets the project's
config vars, and its replica is removed when it ends."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostd.control.oneoff import RUN_OF_LABEL
from hostd.control.runtime import Replica
from tests.control.conftest import WAIT_S, deployed, until
from tests.fakes.daemon import FakeDaemon, fake_daemon
from tests.fakes.runtime import FakeRuntime
from tests.support import tls
from tests.test_auth_api import assert_error

Event = tuple[str, dict[str, Any]]


def events_of(reply: httpx.Response) -> Iterator[Event]:
    """The stream's events (name, data), as they come."""
    name = ""
    for line in reply.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


@contextlib.contextmanager
def started(client: httpx.Client, project_id: str,
            body: dict[str, Any]) -> Iterator[Iterator[Event]]:
    """A run under way: its events as they come. (Not through `client` itself: its
    response hook reads every answer to its end.)"""
    with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=WAIT_S,
                      verify=tls()) as streaming, \
            streaming.stream("POST", f"/api/projects/{project_id}/run", json=body) as reply:
        assert reply.status_code == 200, reply.read()
        yield events_of(reply)


def run(client: httpx.Client, project_id: str, body: dict[str, Any]) -> list[Event]:
    """The run's events, to its end."""
    with started(client, project_id, body) as events:
        return list(events)


def runs_of(fake: FakeRuntime, project_id: str) -> list[Replica]:
    return [r for r in fake.replicas() if r.labels.get(RUN_OF_LABEL) == project_id]


def until_started(fake: FakeRuntime, project_id: str, count: int = 1) -> list[Replica]:
    """The project's one-off replicas once `count` of them run."""
    deadline = time.monotonic() + WAIT_S
    while len(runs := [r for r in runs_of(fake, project_id) if r.running]) < count:
        assert time.monotonic() < deadline, f"never {count} runs: {runs_of(fake, project_id)}"
        time.sleep(0.02)
    return runs


@contextlib.contextmanager
def followed_run(daemon: FakeDaemon, client: httpx.Client,
                 project_id: str) -> Iterator[tuple[Replica, Iterator[Event]]]:
    """A long run started, its first output line followed by the client."""
    with started(client, project_id, {"command": ["sleep", "600"]}) as events:
        (one,) = until_started(daemon.fake, project_id)
        daemon.fake.write_log(one.id, "working")
        assert next(events) == ("output", {"line": "working"})  # followed by now
        yield one, events


def until_no_runs(fake: FakeRuntime, project_id: str, failure: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while runs_of(fake, project_id):
        assert time.monotonic() < deadline, failure
        time.sleep(0.02)


def test_output_lines_then_the_exit_code_and_nothing_left(daemon, repo):
    daemon.fake.script_command(["./manage.py", "migrate"], exit_code=0,
                               output=["Applying 0001_initial... OK", "done"])
    daemon.fake.script_command(["false"], exit_code=3, output=["it went wrong"])
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        assert run(client, pid, {"command": ["./manage.py", "migrate", "--noinput"]}) == [
            ("output", {"line": "Applying 0001_initial... OK"}), ("output", {"line": "done"}),
            ("exit", {"code": 0, "timed_out": False})]
        assert run(client, pid, {"command": ["false"]}) == [
            ("output", {"line": "it went wrong"}), ("exit", {"code": 3, "timed_out": False})]
        assert runs_of(daemon.fake, pid) == []
        spec = daemon.fake.calls_of("run_once")[0][0]
        (web,) = daemon.fake.replicas(pid)
        assert spec.command == ["./manage.py", "migrate", "--noinput"]
        assert spec.image == web.image, "the current release's image"
        assert spec.labels[RUN_OF_LABEL] == pid


def test_a_run_past_its_time_limit_is_killed_and_removed(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        events = run(client, pid, {"command": ["sleep", "600"], "timeout": 1})
        assert events == [("exit", {"code": None, "timed_out": True})]
        assert runs_of(daemon.fake, pid) == []
        (web,) = daemon.fake.replicas(pid)
        killed = [(e.action, e.exit_code) for e in daemon.fake.history()
                  if e.replica_id != web.id]
        assert killed == [("start", None), ("kill", None), ("die", 137)], "killed, not waited"


def test_the_run_gets_the_config_vars_and_reports_its_own_exit(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        changed = client.patch(f"/api/projects/{pid}/env", json={"env": {"GREETING": "hi"}})
        assert changed.status_code == 200, changed.text
        until(client, pid, lambda p: p["status"] == "running" and not p["deploying"])
        with started(client, pid, {"command": ["sh", "-c", "echo $GREETING"]}) as events:
            (one,) = until_started(daemon.fake, pid)
            assert daemon.fake.env_of(one.id)["GREETING"] == "hi"
            assert one.address is None, "a one-off run gets no router traffic"
            daemon.fake.write_log(one.id, "hi")
            daemon.fake.finish(one.id, exit_code=0)
            assert list(events) == [("output", {"line": "hi"}),
                                    ("exit", {"code": 0, "timed_out": False})]
        assert runs_of(daemon.fake, pid) == []


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[FakeDaemon]:
    with fake_daemon(tmp_path / "data", HOSTD_RUNS_PER_USER=1) as running:
        yield running


def test_a_user_runs_at_most_their_cap_at_once(capped, repo):
    fake = capped.fake
    with capped.logged_in() as client, capped.logged_in() as other:
        pid = deployed(client, repo)["id"]
        other_pid = deployed(other, repo, "other")["id"]
        with started(client, pid, {"command": ["sleep", "600"]}) as events:
            (one,) = until_started(fake, pid)
            body = assert_error(client.post(f"/api/projects/{pid}/run",
                                            json={"command": ["true"]}), 429, "RateLimited")
            assert "HOSTD_RUNS_PER_USER" in body["message"]
            assert len(fake.calls_of("run_once")) == 1, "refused before any replica is made"
            fake.script_command(["true"])
            assert run(other, other_pid, {"command": ["true"]})[-1] == (
                "exit", {"code": 0, "timed_out": False}), "the cap is per user"
            fake.finish(one.id, exit_code=0)
            assert list(events) == [("exit", {"code": 0, "timed_out": False})]
        assert fake.inspect(one.id) is None
        # Its place is free again.
        assert run(client, pid, {"command": ["true"]})[-1] == (
            "exit", {"code": 0, "timed_out": False})
        assert runs_of(fake, pid) == [] and runs_of(fake, other_pid) == []


def test_a_run_whose_client_leaves_is_killed_and_removed(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        with followed_run(daemon, client, pid) as (one, _):
            pass
        until_no_runs(daemon.fake, pid, "the run outlived its client")
        assert [e.action for e in daemon.fake.history() if e.replica_id == one.id] == [
            "start", "kill", "die"]


def test_a_redeploy_leaves_a_run_under_way_alone(daemon, repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo)
        (web,) = daemon.fake.replicas(project["id"])
        with started(client, project["id"], {"command": ["sleep", "600"]}) as events:
            (one,) = until_started(daemon.fake, project["id"])
            assert client.post(f"/api/projects/{project['id']}/deploy").status_code == 202
            until(client, project["id"], lambda p: p["release"] > project["release"]
                  and not p["deploying"])
            assert one.id not in {r.id for r in daemon.fake.replicas(project["id"])}, \
                "not one of the project's web replicas"
            assert daemon.fake.inspect(one.id).running, "the deploy's switch left it alone"
            daemon.fake.finish(one.id, exit_code=0)
            assert list(events) == [("exit", {"code": 0, "timed_out": False})]
        assert daemon.fake.inspect(web.id) is None, "the old release retired"


def test_a_run_the_engine_left_mid_way_is_removed_once_it_is_back(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        with followed_run(daemon, client, pid) as (one, events):
            daemon.fake.go_away()
            # How it ended, nobody can say (Docker's wait loses its connection as at the
            # time limit); the stream still ends in order.
            assert list(events) == [("exit", {"code": None, "timed_out": True})]
        daemon.fake.come_back()  # the removal failed meanwhile: the reconciler does it
        until_no_runs(daemon.fake, pid, "the run was left behind")
        assert daemon.fake.inspect(one.id) is None

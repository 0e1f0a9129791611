"""Crash restarts with backoff, and an owner's stop during the backoff, on FakeRuntime."""

from __future__ import annotations

import time

from tests.control.conftest import deployed, until


def test_a_crashed_app_is_started_again_after_its_backoff(daemon, repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo)
        (replica,) = daemon.fake.replicas(project["id"])
        daemon.fake.crash(replica.id, exit_code=3)
        crashed = until(client, project["id"], lambda p: p["status"] == "error")
        assert "crashed once (exit code 3)" in crashed["status_reason"]
        back = until(client, project["id"], lambda p: p["status"] == "running")
        assert back["restarts"] == 1
        assert daemon.fake.inspect(replica.id).running, "the same container, started again"
        assert [r.id for r in daemon.fake.replicas(project["id"])] == [replica.id]


def test_a_stop_during_the_backoff_ends_the_restarts(daemon, repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo)
        (replica,) = daemon.fake.replicas(project["id"])
        daemon.fake.crash(replica.id, exit_code=1)
        until(client, project["id"], lambda p: p["status"] == "error")
        assert client.post(f"/api/containers/{project['id']}/stop").status_code == 200
        starts = len(daemon.fake.calls_of("start"))
        until(client, project["id"], lambda p: p["status"] == "stopped")
        time.sleep(1.5)  # past the first backoff (1 s): nothing may start it
        assert len(daemon.fake.calls_of("start")) == starts
        assert client.get(f"/api/projects/{project['id']}").json()["project"]["status"] == \
            "stopped"


def test_a_crash_loop_backs_off_and_a_stop_during_the_wait_ends_it(daemon, repo):
    """The waits before the 2nd, 3rd and 4th starts are 1, 2 and 4 s; the owner's stop,
    during the 4 s wait, ends the cycle (on the real engine: tests/deploy/test_supervision.py
    proves a real crash and a kill from outside are restarted)."""
    with daemon.logged_in() as client:
        project = deployed(client, repo)
        (replica,) = daemon.fake.replicas(project["id"])
        daemon.fake.exit_on_start(project["id"], code=1)  # every start from now on dies
        daemon.fake.crash(replica.id, exit_code=1)
        reasons: list[str] = []

        def seen(p: dict) -> bool:
            if p["status"] == "error" and p["status_reason"] not in reasons:
                reasons.append(p["status_reason"])
            return "next start in 4 s" in (p["status_reason"] or "")

        waiting = until(client, project["id"], seen)
        assert reasons == ["crashed once (exit code 1); next start in 1 s",
                           "crashed 2 times in a row (exit code 1); next start in 2 s",
                           "crashed 3 times in a row (exit code 1); next start in 4 s"]
        assert waiting["restarts"] == 2
        starts = len(daemon.fake.calls_of("start"))
        assert client.post(f"/api/containers/{project['id']}/stop").status_code == 200
        time.sleep(4.5)  # past the 4 s wait: nothing may start it
        after = client.get(f"/api/projects/{project['id']}").json()["project"]
        assert after["status"] == "stopped" and after["desired_status"] == "stopped"
        assert len(daemon.fake.calls_of("start")) == starts
        assert not daemon.fake.inspect(replica.id).running

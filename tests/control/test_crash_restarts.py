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

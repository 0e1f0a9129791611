"""Rollback and config changes of a running project on FakeRuntime: each starts a new
replica beside the serving one and retires the old only once the new one serves; a
rollback to a pruned image is a 409, and a change whose replica never serves changes
nothing (the old replica serves on with its env, nothing stored moves)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.control.conftest import deployed, redeployed, until_one_replica
from tests.fakes.daemon import FakeDaemon, fake_daemon
from tests.test_auth_api import assert_error


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    with fake_daemon(tmp_path / "data", HOSTD_HEALTH_TIMEOUT=1) as running:
        yield running


def releases(client: httpx.Client, project_id: str) -> list[dict[str, Any]]:
    resp = client.get(f"/api/projects/{project_id}/releases")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["releases"])


def index_of(daemon: FakeDaemon, method: str, replica_id: str) -> int:
    """Where the first call of `method` on `replica_id` stands in the fake's calls."""
    return next(i for i, (name, args) in enumerate(daemon.fake.calls)
                if name == method and args[0] == replica_id)


def assert_switched(daemon: FakeDaemon, client: httpx.Client, project_id: str, old: str,
                    image: str) -> str:
    """The project runs one new replica of `image`: it served before `old` was removed."""
    (new,) = until_one_replica(daemon, client, project_id)
    assert new.id != old and new.image == image and new.running
    assert index_of(daemon, "wait_serving", new.id) < index_of(daemon, "remove", old)
    assert not [args for args in daemon.fake.calls_of("stop") if args[0] == old], \
        "the old replica served until its removal"
    return new.id


def test_a_rollback_runs_the_old_image_beside_and_retires_the_current(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        assert redeployed(client, pid)["release"] == 2
        v2, v1 = releases(client, pid)
        assert v1["image"] != v2["image"]
        (serving,) = daemon.fake.replicas(pid)
        assert serving.image == v2["image"]
        resp = client.post(f"/api/projects/{pid}/rollback", json={"version": 1})
        assert resp.status_code == 200, resp.text
        assert resp.json()["message"] == "Rolled back to v1: now v3"
        assert resp.json()["release"]["version"] == 3 and resp.json()["release"]["current"]
        assert_switched(daemon, client, pid, serving.id, v1["image"])
        project = client.get(f"/api/projects/{pid}").json()["project"]
        assert project["status"] == "running" and project["release"] == 3, project
        v3 = releases(client, pid)[0]
        assert (v3["version"], v3["cause"], v3["image"]) == (3, "rollback to v1", v1["image"])


def test_a_rollback_to_a_pruned_image_is_a_conflict(tmp_path, repo):
    with fake_daemon(tmp_path / "data", HOSTD_RELEASES_KEPT=1) as daemon, \
            daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        redeployed(client, pid)
        until_one_replica(daemon, client, pid)  # v1's replica is gone: its image is free
        redeployed(client, pid)
        v3, v2, v1 = releases(client, pid)
        assert not daemon.fake.image_exists(v1["image"]), "HOSTD_RELEASES_KEPT=1 pruned it"
        (serving,) = until_one_replica(daemon, client, pid)
        runs = len(daemon.fake.calls_of("run"))
        error = assert_error(client.post(f"/api/projects/{pid}/rollback", json={"version": 1}),
                             409, "ConflictError")
        assert "the image of v1 was pruned" in error["message"], error
        assert [r["version"] for r in releases(client, pid)] == [3, 2, 1]  # nothing rebuilt
        assert len(daemon.fake.calls_of("run")) == runs
        assert len(daemon.fake.calls_of("build")) == 3
        assert [r.id for r in daemon.fake.replicas(pid)] == [serving.id] and serving.running
        assert client.get(f"/api/projects/{pid}").json()["project"]["release"] == 3


def test_rollbacks_that_cannot_be_are_clear_errors(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        runs = len(daemon.fake.calls_of("run"))
        for body, status, name, words in [
                ({}, 409, "ConflictError", "first release"),
                ({"version": 1}, 409, "ConflictError", "already"),
                ({"version": 7}, 404, "NotFound", "no release v7"),
                ({"version": 0}, 400, "ValidationError", "version"),
                ({"version": "1"}, 400, "ValidationError", "version")]:
            error = assert_error(client.post(f"/api/projects/{pid}/rollback", json=body),
                                 status, name)
            assert words in error["message"], (body, error)
        assert [r["version"] for r in releases(client, pid)] == [1]
        assert len(daemon.fake.calls_of("run")) == runs


def test_a_config_change_replaces_the_replica_with_one_that_has_it(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        (serving,) = daemon.fake.replicas(pid)
        assert "GREETING" not in daemon.fake.env_of(serving.id)
        resp = client.patch(f"/api/projects/{pid}/env", json={"env": {"GREETING": "hi"}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["env"] == {"GREETING": "hi"}
        new = assert_switched(daemon, client, pid, serving.id, serving.image)
        assert daemon.fake.env_of(new)["GREETING"] == "hi"
        v2 = releases(client, pid)[0]
        assert (v2["version"], v2["cause"], v2["image"]) == (2, "env: set GREETING",
                                                             serving.image)
        assert client.get(f"/api/projects/{pid}").json()["project"]["status"] == "running"


def test_a_config_change_whose_replica_never_serves_changes_nothing(daemon, repo):
    with daemon.logged_in() as client:
        before = deployed(client, repo)
        pid = before["id"]
        (serving,) = daemon.fake.replicas(pid)
        env_before = daemon.fake.env_of(serving.id)
        daemon.fake.never_serves(pid)
        error = assert_error(client.patch(f"/api/projects/{pid}/env",
                                          json={"env": {"GREETING": "hi"}}),
                             409, "ConflictError")
        assert "the running version is untouched" in error["message"], error
        (still,) = daemon.fake.replicas(pid)  # the new one was removed
        assert still.id == serving.id and still.running
        assert daemon.fake.env_of(serving.id) == env_before
        assert client.get(f"/api/projects/{pid}/env").json()["env"] == {}
        assert [r["version"] for r in releases(client, pid)] == [1]
        after = client.get(f"/api/projects/{pid}").json()["project"]
        assert (after["status"], after["release"]) == ("running", 1), after
        assert not [args for args in daemon.fake.calls_of("stop") if args[0] == serving.id]


def test_a_rollback_whose_replica_never_serves_changes_nothing(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        redeployed(client, pid)
        (serving,) = daemon.fake.replicas(pid)
        daemon.fake.never_serves(pid)
        error = assert_error(client.post(f"/api/projects/{pid}/rollback", json={}),
                             409, "ConflictError")
        assert "the running version is untouched" in error["message"], error
        assert [r.id for r in daemon.fake.replicas(pid)] == [serving.id]
        assert [r["version"] for r in releases(client, pid)] == [2, 1]
        assert client.get(f"/api/projects/{pid}").json()["project"]["release"] == 2

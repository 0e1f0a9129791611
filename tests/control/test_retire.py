"""Retiring a replaced replica on FakeRuntime: once the router no longer sends it
anything and it has drained, it is removed, and one replica of the project remains; a
removal the engine refuses leaves it to the reconciler while the new one serves; a
redeploy succeeds while the replaced replica still holds the image pruning would take."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hostd.control.runtime import EngineError
from tests.control.conftest import (
    build_log,
    deployed,
    redeployed,
    runtime_log,
    until,
    until_one_replica,
)
from tests.fakes.daemon import FakeDaemon, fake_daemon
from tests.fakes.runtime import FakeRuntime

DRAINED = {"HOSTD_DRAIN_SECONDS": 0, "HOSTD_DRAIN_TIMEOUT": 0.5}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    with fake_daemon(tmp_path / "data", **DRAINED) as running:
        yield running


def newest_deployment(client, project_id: str) -> str:
    return client.get(f"/api/projects/{project_id}/deployments").json()["deployments"][0]["id"]


def test_a_redeploy_removes_the_old_replica_once_it_drained(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        (old,) = daemon.fake.replicas(pid)
        after = redeployed(client, pid)
        assert (after["status"], after["release"]) == ("running", 2), after
        (new,) = until_one_replica(daemon, client, pid)
        assert new.id != old.id and new.running
        assert new.labels["hostd.deployment"] == newest_deployment(client, pid)
        assert daemon.fake.inspect(old.id) is None
        assert (old.id,) in daemon.fake.calls_of("remove")
        assert not [args for args in daemon.fake.calls_of("stop") if args[0] == old.id], \
            "removed once drained, never stopped before the switch"
        until(client, pid, lambda _: "the previous container drained and was removed"
              in build_log(client, pid))
        daemon.fake.write_log(new.id, "the new one")
        assert runtime_log(client, pid)[-1] == "the new one"


def test_a_removal_the_engine_refuses_is_left_to_the_reconciler(tmp_path, repo):
    fake, instance = FakeRuntime(), "fake-retire"
    with fake_daemon(tmp_path / "data", fake, HOSTD_INSTANCE=instance, **DRAINED) as daemon, \
            daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        (old,) = fake.replicas(pid)
        fake.fail_next("remove", EngineError(f"remove container {old.id} failed: in use"))
        after = redeployed(client, pid)
        until(client, pid, lambda _: (old.id,) in fake.calls_of("remove"))
        assert (after["status"], after["release"]) == ("running", 2), after
        assert after["last_deploy"] == {"status": "succeeded", "reason": None}, after
        new = next(r for r in fake.replicas(pid) if r.id != old.id)
        assert fake.inspect(old.id) is not None, "the refused removal left it"
        fake.write_log(new.id, "the new one serves")
        assert runtime_log(client, pid)[-1] == "the new one serves"
        token = client.headers["Authorization"]
    # The daemon's next start reconciles: what is no project's current replica goes.
    with fake_daemon(tmp_path / "data", fake, HOSTD_INSTANCE=instance, **DRAINED) as daemon, \
            daemon.client() as client:
        client.headers["Authorization"] = token
        (left,) = until_one_replica(daemon, client, pid)
        assert left.id == new.id and left.running
        assert client.get(f"/api/projects/{pid}").json()["project"]["status"] == "running"


def test_a_redeploy_succeeds_while_the_replaced_replica_holds_a_pruned_image(tmp_path, repo):
    """HOSTD_RELEASES_KEPT=1: the deploy prunes v1's image while v1's replica may still
    drain on it; the engine refuses (in use), and the deploy, switched already, stands."""
    with fake_daemon(tmp_path / "data", HOSTD_RELEASES_KEPT=1, **DRAINED) as daemon, \
            daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        (v1,) = daemon.fake.replicas(pid)
        daemon.fake.fail_next("remove_image", EngineError(
            f"remove image {v1.image} failed: conflict: unable to remove repository "
            f"reference \"{v1.image}\" (must force) - container {v1.id} is using its "
            "referenced image"))
        after = redeployed(client, pid)
        assert (after["status"], after["status_reason"]) == ("running", None), after
        assert after["last_deploy"] == {"status": "succeeded", "reason": None}, after
        assert after["release"] == 2
        assert daemon.fake.image_exists(v1.image), "kept while in use"
        until_one_replica(daemon, client, pid)
        assert redeployed(client, pid)["release"] == 3
        assert not daemon.fake.image_exists(v1.image), "the next deploy pruned it"

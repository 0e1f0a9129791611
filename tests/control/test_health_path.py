"""A project's health path on FakeRuntime: its deploys' health check asks the path the
project has now (`/` by default), a 5xx there fails the deploy with a reason naming it,
and a deploy after the owner changes it asks the new one. That the check really GETs the
path inside the container is tests/deploy/test_health_path.py's, on the engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.control.conftest import created, deploy_over, redeployed
from tests.fakes.daemon import FakeDaemon, fake_daemon

FAILS_ON_ROOT = "the app answered 503 on / for 1s: a health check needs an answer below 500"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    with fake_daemon(tmp_path / "data", HOSTD_HEALTH_TIMEOUT=1) as running:
        yield running


def checked_paths(daemon: FakeDaemon) -> list[object]:
    return [args[2] for args in daemon.fake.calls_of("wait_serving")]


def test_a_deploy_checks_the_projects_health_path_as_it_is_now(daemon, repo):
    with daemon.logged_in() as client:
        pid = created(client, repo)
        daemon.fake.answers_with(503, pid)
        failed = deploy_over(client, pid)
        assert (failed["status"], failed["status_reason"]) == ("error", FAILS_ON_ROOT), failed
        assert failed["health_path"] == "/" and checked_paths(daemon) == ["/"]

        resp = client.patch(f"/api/projects/{pid}", json={"health_path": "/healthz"})
        assert resp.status_code == 200 and resp.json()["project"]["health_path"] == "/healthz"
        daemon.fake.clear_faults()
        after = redeployed(client, pid)
        assert (after["status"], after["status_reason"]) == ("running", None), after
        assert checked_paths(daemon) == ["/", "/healthz"]

"""The engine going away and coming back, on FakeRuntime: projects say why they are down,
/healthz says the engine is unreachable, start and restart answer 503, and once it is back
the monitor reconnects and the reconciler brings back what should run, with no crash
counted."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from hostd.control.supervision import ENGINE_UNAVAILABLE
from hostd.router.table import load_routes
from tests.control.conftest import deployed, until
from tests.control.test_formation import APP, scale, settled
from tests.fakes.daemon import FakeDaemon, fake_daemon
from tests.fakes.runtime import FakeRuntime
from tests.support import tls
from tests.test_auth_api import assert_error


def engine_gone(client: httpx.Client, daemon: FakeDaemon, project_id: str) -> dict[str, Any]:
    daemon.fake.go_away()
    return until(client, project_id, lambda p: p["status_reason"] == ENGINE_UNAVAILABLE)


def test_projects_read_error_while_the_engine_is_away_and_run_again_after(daemon, repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo)
        (replica,) = daemon.fake.replicas(project["id"])
        down = engine_gone(client, daemon, project["id"])
        assert down["status"] == "error"
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["docker"] == "unreachable"
        assert health.json()["status"] == "degraded"
        daemon.fake.come_back()
        back = until(client, project["id"], lambda p: p["status"] == "running")
        assert back["status_reason"] is None
        assert back["restarts"] == 0
        assert [r.id for r in daemon.fake.replicas(project["id"])] == [replica.id]
        assert daemon.fake.calls_of("start") == [], "it ran all along: nothing to start"
        assert client.get("/healthz").json()["docker"] == "ok"


def test_start_stop_and_restart_answer_503_while_the_engine_is_away(daemon, repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo)
        engine_gone(client, daemon, project["id"])
        for action in ("start", "restart", "stop"):
            body = assert_error(client.post(f"/api/containers/{project['id']}/{action}"),
                                503, "ServiceUnavailable")
            assert "engine" in body["message"]
        # Refused, it changed nothing: the reconciler still brings it back.
        still = client.get(f"/api/projects/{project['id']}").json()["project"]
        assert (still["status"], still["status_reason"]) == ("error", ENGINE_UNAVAILABLE)
        daemon.fake.come_back()
        until(client, project["id"], lambda p: p["status"] == "running")


def test_replicas_that_died_with_the_engine_are_started_again_uncounted(daemon, repo):
    with daemon.logged_in() as client:
        projects = [deployed(client, repo, "one"), deployed(client, repo, "two")]
        replicas = {r.id for p in projects for r in daemon.fake.replicas(p["id"])}
        daemon.fake.go_away(kill_replicas=True)
        for project in projects:
            until(client, project["id"], lambda p: p["status_reason"] == ENGINE_UNAVAILABLE)
        daemon.fake.come_back()
        for project in projects:
            back = until(client, project["id"], lambda p: p["status"] == "running")
            assert back["restarts"] == 0 and back["last_exit"] is None, back
        # The same replicas, each started once again: none recreated, none counted.
        assert sorted(daemon.fake.calls_of("start")) == sorted((r,) for r in replicas)
        assert {r.id for r in daemon.fake.replicas() if r.running} == replicas


@pytest.mark.parametrize("when", ["as it goes", "while it is away"])
def test_a_crash_during_an_outage_is_not_counted(daemon, repo, when):
    with daemon.logged_in() as client:
        project = deployed(client, repo)
        (replica,) = daemon.fake.replicas(project["id"])
        if when == "as it goes":  # its die reaches the monitor, the engine gone just after
            daemon.fake.crash(replica.id, exit_code=137)
        daemon.fake.go_away()
        until(client, project["id"], lambda p: p["status_reason"] == ENGINE_UNAVAILABLE)
        if when == "while it is away":
            daemon.fake.crash(replica.id, exit_code=1)
        daemon.fake.come_back()
        back = until(client, project["id"], lambda p: p["status"] == "running")
        assert back["restarts"] == 0 and back["last_exit"] is None, back
        assert daemon.fake.inspect(replica.id).running
        assert daemon.fake.calls_of("start") == [(replica.id,)]



def test_a_daemon_that_starts_without_the_engine_waits_for_it(tmp_path, repo):
    fake, data = FakeRuntime(), tmp_path / "data"
    with fake_daemon(data, fake, HOSTD_INSTANCE="outage-test") as first, \
            first.logged_in() as client:
        token = client.headers["Authorization"].removeprefix("Bearer ")
        project = deployed(client, repo)
    (replica,) = fake.replicas(project["id"])
    fake.go_away(kill_replicas=True)  # the machine rebooted; the engine is slow to come up
    with fake_daemon(data, fake, HOSTD_INSTANCE="outage-test") as second, \
            second.client(token) as client:
        down = until(client, project["id"], lambda p: p["status_reason"] == ENGINE_UNAVAILABLE)
        assert down["status"] == "error"
        assert client.get("/healthz").json()["docker"] == "unreachable"
        fake.come_back()
        back = until(client, project["id"], lambda p: p["status"] == "running")
        assert back["status_reason"] is None and back["restarts"] == 0
        assert fake.inspect(replica.id).running, "the same replica, started again"


def test_web_replicas_leave_the_route_while_the_engine_is_away(daemon, repo):
    """Their ports went with the engine: the router answers the project's 503 page, not a
    502 from a port nobody listens on; once the engine is back each answers and serves."""
    with daemon.logged_in() as client:
        project = deployed(client, repo, files=APP)
        assert scale(client, project["id"], web=2).status_code == 200
        settled(daemon, client, project["id"], 2, 1)
        url = urlsplit(project["url"])
        key = (url.hostname or "").split(".")[:2]
        assert len(serving_ports(daemon, key)) == 2
        engine_gone(client, daemon, project["id"])
        assert serving_ports(daemon, key) == ()
        page = httpx.get(f"http://127.0.0.1:{url.port}/", headers={"Host": url.netloc},
                         timeout=10, verify=tls())
        assert page.status_code == 503 and "text/html" in page.headers["content-type"]
        daemon.fake.come_back()
        until(client, project["id"], lambda p: p["status"] == "running")
        deadline = time.monotonic() + 10
        while len(serving_ports(daemon, key)) != 2:
            assert time.monotonic() < deadline, "the replicas never served again"
            time.sleep(0.05)


def serving_ports(daemon: FakeDaemon, key: list[str]) -> tuple[int, ...]:
    """Where the router would send the project's requests now (none: its 503 page)."""
    route = load_routes(daemon.services.db).get((key[0], key[1]))
    return route.ports if route is not None and route.serving else ()

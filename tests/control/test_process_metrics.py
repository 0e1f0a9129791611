"""A project's metrics sum every replica and break them down by process type (issue 26),
on FakeRuntime with a short metrics interval: what `GET /api/projects/:id` and the
`metrics_updated` events carry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.control.conftest import deployed, until
from tests.control.test_formation import APP, running_of, scale, settled
from tests.fakes.daemon import FakeDaemon, fake_daemon

MB = 2**20


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    with fake_daemon(tmp_path / "data", HOSTD_METRICS_INTERVAL=0.2) as running:
        yield running


def test_metrics_sum_every_replica_by_type(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        assert scale(client, pid, web=2, worker=1).status_code == 200
        settled(daemon, client, pid, 2, 1)
        webs, (worker,) = running_of(daemon, pid, "web"), running_of(daemon, pid, "worker")
        for replica in webs:
            daemon.fake.set_usage(replica.id, cpu_ns=0, memory_bytes=10 * MB)
        daemon.fake.set_usage(worker.id, cpu_ns=0, memory_bytes=30 * MB)
        project = until(client, pid, lambda p: p["metrics"]["memory"] == 50.0)
        assert project["metrics"]["processes"] == {
            "web": {"replicas": 2, "cpu": 0.0, "memory": 20.0},
            "worker": {"replicas": 1, "cpu": 0.0, "memory": 30.0}}
        used = iter(range(1, 10**6))

        def busy_worker(project: dict) -> bool:  # its CPU time grows at each poll; web's not
            daemon.fake.set_usage(worker.id, cpu_ns=next(used) * 10**9)
            return project["metrics"]["processes"]["worker"]["cpu"] > 0

        busy = until(client, pid, busy_worker)
        shown = busy["metrics"]
        assert shown["processes"]["web"]["cpu"] == 0.0
        assert shown["cpu"] == shown["processes"]["worker"]["cpu"]


def test_a_project_never_measured_shows_the_contracts_metrics(daemon, repo):
    with daemon.logged_in() as client:
        resp = client.post("/api/projects", json={"name": "new", "github_url": repo(APP),
                                                  "template": "static"})
        assert resp.status_code == 201
        assert resp.json()["project"]["metrics"] == {"cpu": 0.0, "memory": 0.0, "requests": 0}

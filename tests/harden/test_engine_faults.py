"""The Docker engine goes away while projects run, then comes back: 503s and a degraded
/healthz meanwhile, then hostd recovers on its own (events followed again, statuses
corrected) without a restart. The engine is cut by a proxy (engine_proxy.py), so the
machine's shared engine keeps running for everyone else."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.deploy.conftest import create, wait_status
from tests.harden.engine_proxy import EngineProxy
from tests.plugins.engine import own_daemon
from tests.support import auth, register, tls

SITE = {"index.html": "<h1>still here</h1>\n"}


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[EngineProxy]:
    proxy = EngineProxy(tmp_path / "engine.sock")
    proxy.restore()
    yield proxy
    proxy.cut()


def poll(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.25)


def project_containers(engine: docker.DockerClient, project_id: str) -> list:
    return engine.containers.list(all=True, filters={"label": f"hostd.project={project_id}"})


def test_engine_outage_then_recovery_without_a_restart(
        engine: docker.DockerClient, base_images: None, proxy: EngineProxy,
        repo: Callable[[dict[str, str]], str], tmp_path: Path) -> None:
    with own_daemon(engine, tmp_path / "data", DOCKER_HOST=proxy.url) as server:
        with httpx.Client(base_url=server.url, timeout=30, verify=tls()) as client:
            token, _ = register(client)
            client.headers.update(auth(token))
            project = create(client, "outage", repo(SITE), "static")
            assert wait_status(client, project["id"], {"running", "error"})["status"] == "running"
            pid = project["id"]
            (before,) = project_containers(engine, pid)

            proxy.cut()
            health = client.get("/healthz").json()
            assert {k: health[k] for k in ("status", "database", "docker")} == {
                "status": "degraded", "database": "ok", "docker": "unreachable"}
            for action in ("stop", "restart"):
                resp = client.post(f"/api/containers/{pid}/{action}")
                assert resp.status_code == 503, resp.text
                assert resp.json()["error"] == "ServiceUnavailable"
            assert client.get("/api/projects").status_code == 200  # the database still answers
            # The outage is shown as what it is, and what should run still should.
            poll(lambda: client.get(f"/api/projects/{pid}").json()["project"]["status_reason"]
                 == "the Docker engine is unavailable", "the project shows the outage")
            during = client.get(f"/api/projects/{pid}").json()["project"]
            assert during["status"] == "error" and during["desired_status"] == "running"
            # Behind hostd's back, while it cannot see: its container disappears.
            before.remove(force=True)

            proxy.restore()
            poll(lambda: client.get("/healthz").json()["status"] == "ok", "/healthz is ok")
            # Reconciled on reconnect: the running project got a new container.
            poll(lambda: any(c.status == "running" for c in project_containers(engine, pid)),
                 "the project's container is recreated")
            back = wait_status(client, pid, {"running"}, timeout=30)
            assert back["status_reason"] is None and back["restarts"] == 0
            (after,) = project_containers(engine, pid)
            assert after.id != before.id
            # Events are followed again: a crash now is seen, and restarted, within seconds.
            after.kill()
            poll(lambda: client.get(f"/api/projects/{pid}").json()["project"]["restarts"] == 1,
                 "the killed app is started again", timeout=30)
            project = wait_status(client, pid, {"running"}, timeout=30)
            assert project["last_exit"]["signal"] == "SIGKILL"
        assert "unhandled error" not in server.logs()

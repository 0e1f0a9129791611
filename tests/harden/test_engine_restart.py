"""The machine's Docker engine stops and starts again, for real (the dockerd that
scripts/ensure-docker started): every project that should run serves again through the
router with status `running`, with no user action and no restart of hostd, while a
project its owner stopped stays stopped. The same when hostd was stopped first and starts
after the engine (a reboot). Marked `engine_restart`: tests/plugins/engine.py runs them
after every other test, since every container on the engine stops meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.deploy.conftest import create, wait_status
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, logged_in, tls

pytestmark = [pytest.mark.engine_restart, pytest.mark.engine_wide]

ROOT = Path(__file__).resolve().parents[2]
PID_FILE = Path("/var/run/docker.pid")
ENGINE_UNAVAILABLE = "the Docker engine is unavailable"
CONVERGED_WITHIN_S = 60.0


def stop_engine(timeout: float = 60.0) -> None:
    """SIGTERM to dockerd, then wait until it has exited (its containers stopped)."""
    pid = int(PID_FILE.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, "dockerd did not stop"
        time.sleep(0.1)


def start_engine() -> None:
    subprocess.run([str(ROOT / "scripts" / "ensure-docker")], check=True, timeout=120,
                   stdin=subprocess.DEVNULL, capture_output=True)


@pytest.fixture
def restartable_engine(engine: docker.DockerClient) -> Iterator[docker.DockerClient]:
    """The engine, started again after the test whatever happened."""
    if not PID_FILE.exists():
        pytest.skip("no dockerd started by scripts/ensure-docker to restart")
    try:
        yield engine
    finally:
        start_engine()


def poll(check: Callable[[], bool], what: str, timeout: float = CONVERGED_WITHIN_S) -> float:
    """Seconds until `check` held."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"timed out waiting until {what}"
        time.sleep(0.2)
    return time.monotonic() - started


def through_router(server: HostdServer, project: dict) -> httpx.Response | None:
    host = project["url"].removeprefix("http://").split(":")[0]
    try:
        return httpx.get(f"http://127.0.0.1:{server.router_port}/", headers={"Host": host},
                         timeout=5, verify=tls())
    except httpx.HTTPError:
        return None


def serving(server: HostdServer, client: httpx.Client, project: dict) -> bool:
    now = client.get(f"/api/projects/{project['id']}").json()["project"]
    answer = through_router(server, project)
    return now["status"] == "running" and answer is not None and answer.status_code == 200


def three_projects(client: httpx.Client, repo: Callable[[dict[str, str]], str]
                   ) -> tuple[list[dict], dict]:
    """Two running sites and one its owner stopped."""
    sites = [create(client, name, repo({"index.html": f"<h1>{name}</h1>\n"}), "static")
             for name in ("keep-a", "keep-b", "rested")]
    for site in sites:
        assert wait_status(client, site["id"], {"running", "error"})["status"] == "running"
    assert client.post(f"/api/containers/{sites[2]['id']}/stop").status_code == 200
    return sites[:2], sites[2]


def assert_converged(server: HostdServer, client: httpx.Client, running: list[dict],
                     stopped: dict, engine: docker.DockerClient) -> float:
    took = max(poll(lambda p=p: serving(server, client, p), f"{p['name']} serves again")
               for p in running)
    for project in running:
        now = client.get(f"/api/projects/{project['id']}").json()["project"]
        assert now["restarts"] == 0, now  # the engine's stop was not the app crashing
    rested = client.get(f"/api/projects/{stopped['id']}").json()["project"]
    assert rested["status"] == "stopped" and rested["desired_status"] == "stopped"
    (container,) = engine.containers.list(
        all=True, filters={"label": f"hostd.project={stopped['id']}"})
    assert container.status != "running"
    print(f"\nevery project serving again {took:.1f} s after the engine answered")
    return took


def test_an_engine_restart_brings_back_what_should_run(
        restartable_engine: docker.DockerClient, base_images: None,
        repo: Callable[[dict[str, str]], str], tmp_path: Path) -> None:
    engine = restartable_engine
    with own_daemon(engine, tmp_path / "data") as server, logged_in(server) as client:
        running, stopped = three_projects(client, repo)
        stop_engine()
        for project in running:
            poll(lambda p=project: client.get(f"/api/projects/{p['id']}").json()["project"]
                 ["status_reason"] == ENGINE_UNAVAILABLE, "the outage is shown", timeout=30)
            now = client.get(f"/api/projects/{project['id']}").json()["project"]
            assert now["status"] == "error" and now["desired_status"] == "running"
        start_engine()
        assert_converged(server, client, running, stopped, engine)
        assert "unhandled error" not in server.logs()


def test_hostd_started_after_the_engine_brings_back_what_should_run(
        restartable_engine: docker.DockerClient, base_images: None,
        repo: Callable[[dict[str, str]], str], tmp_path: Path) -> None:
    engine = restartable_engine
    with own_daemon(engine, tmp_path / "data") as server, logged_in(server) as client:
        running, stopped = three_projects(client, repo)
        server.stop()
        stop_engine()
        start_engine()
        server.start()
        assert_converged(server, client, running, stopped, engine)
        assert "unhandled error" not in server.logs()

"""Real deploys on the real Docker engine, through a real hostd.

The engine fixtures are tests/plugins/engine.py's. The daemon here runs with that
plugin's INSTANCE label; the engine fixture's finalizer removes everything carrying it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.plugins.engine import INSTANCE
from tests.support import HostdServer, logged_in, tls

DEPLOY_TIMEOUT_S = 240.0
@pytest.fixture(scope="session")
def deploy_hostd(engine, base_images, tmp_path_factory) -> Iterator[HostdServer]:
    server = HostdServer(data_dir=tmp_path_factory.mktemp("deploy-data"),
                         env_overrides={"HOSTD_INSTANCE": INSTANCE}).start()
    yield server
    server.stop()


@pytest.fixture
def api(deploy_hostd: HostdServer) -> Iterator[httpx.Client]:
    """A client logged in as a new user."""
    with logged_in(deploy_hostd) as client:
        yield client


def make_repo(root: Path, files: dict[str, str],
              links: dict[str, str] | None = None) -> str:
    """A real git repository with `files` (and symbolic links `name -> target`),
    committed; returns its file:// URL."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for rel, target in (links or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / rel)
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fixture"], check=True)
    return f"file://{root}"


@pytest.fixture
def repo(tmp_path: Path) -> Callable[[dict[str, str]], str]:
    counter = iter(range(1000))
    return lambda files: make_repo(tmp_path / f"repo{next(counter)}", files)


def create(api: httpx.Client, name: str, url: str, template: str) -> dict:
    resp = api.post("/api/projects", json={"name": name, "github_url": url, "template": template})
    assert resp.status_code == 201, resp.text
    assert resp.json()["project"]["status"] == "deploying"
    return resp.json()["project"]


def wait_status(api: httpx.Client, project_id: str, wanted: set[str],
                timeout: float = DEPLOY_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        project = api.get(f"/api/projects/{project_id}").json()["project"]
        # A redeployed project stays `running` while its deploy goes on: wait it out too.
        if project["status"] in wanted and ("deploying" in wanted or not project["deploying"]):
            return project
        time.sleep(0.2)
    raise AssertionError(f"project {project_id} never reached {wanted}: {project}")


def only_container(engine: docker.DockerClient, project_id: str, timeout: float = 15.0):
    """The project's one container, once a replaced one has drained and gone
    (once nothing is open to it after a config change, restart or redeploy switched)."""
    deadline = time.monotonic() + timeout
    label = {"label": f"hostd.project={project_id}"}
    while len(containers := _listed(engine, label)) != 1:
        assert time.monotonic() < deadline, containers
        time.sleep(0.1)
    return containers[0]


def _listed(engine: docker.DockerClient, label: dict[str, str]) -> list:
    try:
        return engine.containers.list(all=True, filters=label)
    except docker.errors.NotFound:  # one was removed between the list and its inspect
        return []


def published_port(engine: docker.DockerClient, project_id: str) -> int:
    container = only_container(engine, project_id)
    binding = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1"
    return int(binding["HostPort"])


def answers(port: int) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2.0, verify=tls())
    except httpx.HTTPError:
        return None

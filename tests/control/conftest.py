"""The control plane's branches on FakeRuntime (tests/fakes): a real daemon over HTTP, an
engine in memory with faults to inject. No `docker` marker: they run in `make unit`."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.conftest import make_repo
from tests.fakes.daemon import FakeDaemon, fake_daemon

WAIT_S = 15.0  # in memory, a branch ends in well under a second; this is the failure bound


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    with fake_daemon(tmp_path / "data") as running:
        yield running


@pytest.fixture
def repo(tmp_path: Path) -> Callable[[dict[str, str]], str]:
    counter = iter(range(1000))
    return lambda files: make_repo(tmp_path / f"repo{next(counter)}", files)


SITE = {"index.html": "<h1>hi</h1>\n"}


def deployed(client: httpx.Client, repo: Callable[[dict[str, str]], str], name: str = "site",
             files: dict[str, str] | None = None) -> dict[str, Any]:
    """A project created and deployed (static template) until it runs."""
    resp = client.post("/api/projects", json={"name": name, "github_url": repo(files or SITE),
                                              "template": "static"})
    assert resp.status_code == 201, resp.text
    return until(client, resp.json()["project"]["id"],
                 lambda p: p["status"] == "running" and not p["deploying"])


def until(client: httpx.Client, project_id: str, ok: Callable[[dict[str, Any]], bool],
          timeout: float = WAIT_S) -> dict[str, Any]:
    """The project once `ok` holds for it (polled)."""
    deadline = time.monotonic() + timeout
    while True:
        project = client.get(f"/api/projects/{project_id}").json()["project"]
        if ok(project):
            return project
        assert time.monotonic() < deadline, f"never reached: {project}"
        time.sleep(0.05)


# --- shared by the failure, rollback, retire and quota tests -------------------------------


def created(client: httpx.Client, repo: Callable[[dict[str, str]], str], name: str = "site",
            files: dict[str, str] | None = None) -> str:
    """A project created (its first deploy under way): its id."""
    resp = client.post("/api/projects", json={"name": name, "github_url": repo(files or SITE),
                                              "template": "static"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["project"]["id"])


def deploy_over(client: httpx.Client, project_id: str, deployments: int = 1) -> dict[str, Any]:
    """The project once `deployments` deploys of it have ended (succeeded or failed) and
    the last one's status write is in. That write comes just after `deploying` turns
    false (hostd.control.deployer: the queue frees the project first), so the status is
    waited out too, as hostctl does, and a redeploy's step prose ("deploying: …", which
    the final write replaces) as well."""
    def over(project: dict[str, Any]) -> bool:
        if project["deploying"] or project["status"] == "deploying" or \
                (project["status_reason"] or "").startswith("deploying: "):
            return False
        runs = client.get(f"/api/projects/{project_id}/deployments").json()["deployments"]
        return len(runs) == deployments and all(r["status"] != "running" for r in runs)
    return until(client, project_id, over)


def redeployed(client: httpx.Client, project_id: str) -> dict[str, Any]:
    """POST …/deploy, and the project once that deploy has ended."""
    before = len(client.get(f"/api/projects/{project_id}/deployments").json()["deployments"])
    resp = client.post(f"/api/projects/{project_id}/deploy")
    assert resp.status_code == 202, resp.text
    return deploy_over(client, project_id, before + 1)


def build_log(client: httpx.Client, project_id: str) -> list[str]:
    resp = client.get(f"/api/projects/{project_id}/logs", params={"source": "build",
                                                                  "tail": 500})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["lines"])


def runtime_log(client: httpx.Client, project_id: str) -> list[str]:
    resp = client.get(f"/api/projects/{project_id}/logs", params={"tail": 50})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["lines"])


def commit_files(url: str, files: dict[str, str]) -> None:
    """A new commit of `files` in the file:// repository `url` (made by `repo`)."""
    root = Path(url.removeprefix("file://"))
    for rel, text in files.items():
        (root / rel).write_text(text)
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "change"], check=True)


def until_one_replica(daemon: FakeDaemon, client: httpx.Client, project_id: str) -> list[Any]:
    """The project's replicas once the one it replaced has drained and gone."""
    until(client, project_id, lambda _: len(daemon.fake.replicas(project_id)) == 1)
    return daemon.fake.replicas(project_id)

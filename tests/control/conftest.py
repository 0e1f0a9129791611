"""The control plane's branches on FakeRuntime (tests/fakes): a real daemon over HTTP, an
engine in memory with faults to inject. No `docker` marker: they run in `make unit`."""

from __future__ import annotations

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

"""kill -9 of the daemon at moments throughout a redeploy of a running project: after the
restart exactly one container of the project is left, it serves through the router, the
project is `running` on the current release's image, and no container is orphaned."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import docker
import httpx
import pytest

from tests.deploy.conftest import wait_status
from tests.harden.test_engine_restart import through_router
from tests.plugins.engine import own_daemon
from tests.support import auth, register, tls

# Seconds after the redeploy is asked for: in the clone or build, around the switch, after.
KILL_AFTER_S = [0.3, 1.0, 1.8, 2.6, 3.5]


def change(root: Path, text: str) -> None:
    (root / "index.html").write_text(text)
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "commit", "-q", "-am", text], check=True)


@pytest.mark.parametrize("kill_after_s", KILL_AFTER_S)
def test_a_daemon_killed_during_a_redeploy_comes_back_on_one_release(
        engine: docker.DockerClient, base_images: None, repo: Callable[[dict[str, str]], str],
        tmp_path: Path, kill_after_s: float) -> None:
    with own_daemon(engine, tmp_path / "data", HOSTD_DRAIN_SECONDS="1") as server, \
            httpx.Client(base_url=server.url, timeout=30, verify=tls()) as api:
        token, _ = register(api)
        api.headers.update(auth(token))
        url = repo({"index.html": "one"})
        resp = api.post("/api/projects", json={"name": "switchy", "github_url": url,
                                               "template": "static"})
        project = wait_status(api, resp.json()["project"]["id"], {"running", "error"})
        assert project["status"] == "running", project
        pid = project["id"]
        change(Path(url.removeprefix("file://")), "two")
        assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
        time.sleep(kill_after_s)
        server.kill9()
        server.start()
        after = wait_status(api, pid, {"running", "error"}, timeout=60)
        assert after["status"] == "running", after
        deadline = time.monotonic() + 15
        while len(containers := engine.containers.list(
                all=True, filters={"label": f"hostd.project={pid}"})) != 1:
            assert time.monotonic() < deadline, f"left: {containers}"
            time.sleep(0.2)
        (container,) = containers
        assert container.status == "running"
        current = next(r for r in api.get(f"/api/projects/{pid}/releases").json()["releases"]
                       if r["current"])
        assert container.image.tags[0] == current["image"]
        reply = through_router(server, after)
        assert reply is not None and reply.status_code == 200
        assert reply.text in ("one", "two")

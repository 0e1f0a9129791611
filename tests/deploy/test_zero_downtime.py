"""Changes to a running project never drop its traffic: a steady client through the router
(a GET every 10 ms) sees no failed request while a new commit is deployed, its config
changes or it restarts (the body switches from the old version to the new one exactly
once), and a change whose app exits at start changes nothing: the old version serves on
and the project stays `running`."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.deploy.conftest import DEPLOY_TIMEOUT_S, make_repo, wait_status
from tests.support import HostdServer, tls

SERVER_JS = """\
if (process.env.CRASH) { console.log("told to crash"); process.exit(3); }
const fs = require("fs");
const body = fs.readFileSync(__dirname + "/VERSION", "utf8") + (process.env.GREETING || "");
require("http").createServer((req, res) => res.end(body)).listen(process.env.PORT);
"""
EXITS_AT_START = 'console.log("boom"); process.exit(3);\n'
PACKAGE = '{"name": "steady", "version": "1.0.0", "scripts": {"start": "node server.js"}}\n'


def commit(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).write_text(text)
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "commit", "-q", "-am", "change"], check=True)


class SteadyClient:
    """GETs through the router every 10 ms on a thread; what each one got."""

    def __init__(self, server: HostdServer, project: dict) -> None:
        self.url = f"http://127.0.0.1:{server.router_port}/"
        self.host = project["url"].removeprefix("http://").split(":")[0]
        self.results: list[tuple[int, str]] = []
        self._stop = threading.Event()

    def _run(self) -> None:
        with httpx.Client(timeout=10, verify=tls(), headers={"Host": self.host}) as client:
            while not self._stop.is_set() and len(self.results) < 20_000:
                try:
                    reply = client.get(self.url)
                    self.results.append((reply.status_code, reply.text))
                except httpx.HTTPError as exc:
                    self.results.append((0, type(exc).__name__))
                time.sleep(0.01)

    @contextmanager
    def running(self) -> Iterator[SteadyClient]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=30)

    def failures(self) -> list[tuple[int, str]]:
        return [result for result in self.results if result[0] != 200]

    def bodies(self) -> list[str]:
        """The distinct bodies in the order they were served, repeats collapsed."""
        seen: list[str] = []
        for _, body in self.results:
            if not seen or seen[-1] != body:
                seen.append(body)
        return seen


def deployed(api: httpx.Client, project_id: str) -> dict:
    """The project once its latest deployment is over."""
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    while time.monotonic() < deadline:
        runs = api.get(f"/api/projects/{project_id}/deployments").json()["deployments"]
        if runs and runs[0]["status"] in ("succeeded", "failed"):
            return api.get(f"/api/projects/{project_id}").json()["project"]
        time.sleep(0.2)
    raise AssertionError(f"the deploy of {project_id} never ended")


def first_release(api: httpx.Client, tmp_path: Path, name: str,
                  server_js: str = SERVER_JS) -> tuple[dict, Path]:
    root = tmp_path / name
    url = make_repo(root, {"package.json": PACKAGE, "server.js": server_js, "VERSION": "v1"})
    resp = api.post("/api/projects", json={"name": name, "github_url": url,
                                           "template": "nodejs"})
    assert resp.status_code == 201, resp.text
    project = deployed(api, resp.json()["project"]["id"])
    assert project["status"] == "running", project
    return project, root


def test_a_redeploy_of_a_new_commit_drops_nothing(api, deploy_hostd, tmp_path):
    project, root = first_release(api, tmp_path, "steady")
    commit(root, {"VERSION": "v2"})
    with SteadyClient(deploy_hostd, project).running() as steady:
        time.sleep(0.3)
        assert api.post(f"/api/projects/{project['id']}/deploy").status_code == 202
        after = deployed(api, project["id"])
        time.sleep(0.5)
    assert after["status"] == "running" and after["status_reason"] is None, after
    assert steady.failures() == [], steady.failures()[:5]
    assert steady.bodies() == ["v1", "v2"]
    assert len(steady.results) > 100


def test_a_config_change_and_a_restart_drop_nothing(api, deploy_hostd, tmp_path):
    project, _ = first_release(api, tmp_path, "configured")
    pid = project["id"]
    with SteadyClient(deploy_hostd, project).running() as steady:
        time.sleep(0.3)
        resp = api.patch(f"/api/projects/{pid}/env", json={"env": {"GREETING": "-hi"}})
        assert resp.status_code == 200, resp.text
        time.sleep(0.3)
        assert api.post(f"/api/containers/{pid}/restart").status_code == 200
        time.sleep(0.5)
    assert steady.failures() == [], steady.failures()[:5]
    assert steady.bodies() == ["v1", "v1-hi"]
    assert api.get(f"/api/projects/{pid}").json()["project"]["status"] == "running"


def test_a_deploy_and_a_config_change_whose_app_exits_change_nothing(api, deploy_hostd,
                                                                     tmp_path, engine):
    """Both on the engine, one after the other, while the steady client asks through the
    real router: not one request fails, v1 serves on, the app's own output (it exits at
    start) reaches the build log, and neither failed container stays. What a failed
    change leaves in the project's fields and deployments is a branch, on FakeRuntime:
    tests/control/test_deploy_failures.py, test_rollback_and_env.py."""
    project, root = first_release(api, tmp_path, "keeps")
    pid = project["id"]
    commit(root, {"server.js": EXITS_AT_START, "VERSION": "v2"})
    with SteadyClient(deploy_hostd, project).running() as steady:
        time.sleep(0.3)
        assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
        deployed(api, pid)
        after = wait_status(api, pid, {"running"})  # the failed deploy's outcome is in
        # The running release's own image, told to crash by a config var.
        resp = api.patch(f"/api/projects/{pid}/env", json={"env": {"CRASH": "1"}})
        time.sleep(0.3)
    assert steady.failures() == [], steady.failures()[:5]
    assert steady.bodies() == ["v1"]
    assert after["status_reason"].startswith("the last deploy failed: "), after
    assert "exited with code 3" in after["status_reason"]
    assert after["release"] == project["release"], after
    build_log = api.get(f"/api/projects/{pid}/logs",
                        params={"source": "build", "tail": 200}).json()["lines"]
    assert any("boom" in line for line in build_log)
    assert resp.status_code == 409, resp.text
    assert "the running version is untouched" in resp.json()["message"]
    assert api.get(f"/api/projects/{pid}/env").json()["env"] == {}
    assert api.get(f"/api/projects/{pid}").json()["project"]["status"] == "running"
    containers = engine.containers.list(all=True, filters={"label": f"hostd.project={pid}"})
    assert len(containers) == 1  # the failed ones are gone

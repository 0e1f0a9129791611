"""A project's health path: hostd GETs it to decide a new container is healthy (any answer
below 500). An app whose `/` fails but whose `/healthz` answers deploys once its owner
says so. (A bad path is a 400: tests/test_projects_api.py.)"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.deploy.conftest import make_repo
from tests.deploy.test_zero_downtime import PACKAGE, deployed
from tests.plugins.engine import own_daemon
from tests.support import logged_in

# `/` is a 503 (it needs a database it does not have); `/healthz` says the process is up.
SERVER_JS = """\
require("http").createServer((req, res) => {
  res.statusCode = req.url === "/healthz" ? 200 : 503;
  res.end(req.url === "/healthz" ? "ok" : "no database");
}).listen(process.env.PORT);
"""


@pytest.fixture
def api(engine, base_images, tmp_path: Path):
    with own_daemon(engine, tmp_path / "data", HOSTD_DEPLOY_TIMEOUT="5") as server, \
            logged_in(server) as client:
        yield client


def test_an_app_is_healthy_by_its_health_path(api: httpx.Client, tmp_path: Path) -> None:
    url = make_repo(tmp_path / "repo", {"package.json": PACKAGE, "server.js": SERVER_JS})
    resp = api.post("/api/projects", json={"name": "healthz", "github_url": url,
                                           "template": "nodejs"})
    assert resp.status_code == 201 and resp.json()["project"]["health_path"] == "/"
    pid = resp.json()["project"]["id"]
    failed = deployed(api, pid)
    assert failed["status"] == "error"
    assert failed["status_reason"].startswith("the app answered 503 on / for 5s"), failed

    resp = api.patch(f"/api/projects/{pid}", json={"health_path": "/healthz"})
    assert resp.status_code == 200 and resp.json()["project"]["health_path"] == "/healthz"
    assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
    assert deployed(api, pid)["status"] == "running"

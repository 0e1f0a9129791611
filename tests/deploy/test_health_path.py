"""A project's health path on the engine: hostd really GETs that path inside the new
container, and an answer of 500 or more there fails the deploy. The app answers `/` but
its `/healthz` is a 503: a check of `/` would pass. (Which path a deploy asks, and a
deploy after the owner changes it: tests/control/test_health_path.py, on FakeRuntime;
a bad path is a 400: tests/test_projects_api.py.)"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.deploy.conftest import make_repo
from tests.deploy.test_zero_downtime import PACKAGE, deployed
from tests.plugins.engine import own_daemon
from tests.support import logged_in

# `/healthz` is a 503 (it needs a database it does not have); `/` answers.
SERVER_JS = """\
require("http").createServer((req, res) => {
  res.statusCode = req.url === "/healthz" ? 503 : 200;
  res.end(req.url === "/healthz" ? "no database" : "ok");
}).listen(process.env.PORT);
"""


@pytest.fixture
def api(engine, base_images, tmp_path: Path):
    with own_daemon(engine, tmp_path / "data", HOSTD_DEPLOY_TIMEOUT="5") as server, \
            logged_in(server) as client:
        yield client


def test_the_health_check_gets_the_health_path_in_the_container(api: httpx.Client,
                                                                 tmp_path: Path) -> None:
    url = make_repo(tmp_path / "repo", {"package.json": PACKAGE, "server.js": SERVER_JS})
    resp = api.post("/api/projects", json={"name": "healthz", "github_url": url,
                                           "template": "nodejs", "health_path": "/healthz"})
    assert resp.status_code == 201 and resp.json()["project"]["health_path"] == "/healthz"
    failed = deployed(api, resp.json()["project"]["id"])
    assert failed["status"] == "error"
    assert failed["status_reason"].startswith("the app answered 503 on /healthz for 5s"), failed

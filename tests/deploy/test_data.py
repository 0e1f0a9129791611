"""Every project has a /data of its own: the app (its template's non-root user) writes
there, what it wrote survives a redeploy, a config change and a restart, a one-off
command sees it, and it is gone with the project."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import httpx

from tests.deploy.conftest import make_repo
from tests.deploy.test_run import run
from tests.deploy.test_zero_downtime import PACKAGE, commit, deployed
from tests.support import HostdServer, logged_in, tls

COUNTER_JS = """\
const fs = require("fs");
const file = "/data/count";
require("http").createServer((req, res) => {
  let n = 0;
  try { n = Number(fs.readFileSync(file, "utf8")); } catch (e) {}
  if (req.url === "/bump") { n += 1; fs.writeFileSync(file, String(n)); }
  res.end(n + " " + fs.readFileSync(__dirname + "/VERSION", "utf8"));
}).listen(process.env.PORT);
"""


def get(server: HostdServer, project: dict, path: str) -> str:
    host = project["url"].removeprefix("http://").split(":")[0]
    with httpx.Client(timeout=10, verify=tls()) as client:
        reply = client.get(f"http://127.0.0.1:{server.router_port}{path}",
                           headers={"Host": host})
    assert reply.status_code == 200, reply.text
    return reply.text


def volumes_of(engine: docker.DockerClient, project_id: str) -> list[str]:
    return [v.name for v in engine.volumes.list(filters={"label": f"hostd.project={project_id}"})]


def test_data_survives_every_change_and_goes_with_the_project(
        deploy_hostd: HostdServer, engine: docker.DockerClient, tmp_path: Path) -> None:
    root = tmp_path / "counter"
    url = make_repo(root, {"package.json": PACKAGE, "server.js": COUNTER_JS, "VERSION": "v1"})
    with logged_in(deploy_hostd) as api:
        created = api.post("/api/projects", json={"name": "counter", "github_url": url,
                                                  "template": "nodejs"})
        assert created.status_code == 201, created.text
        project = deployed(api, created.json()["project"]["id"])
        pid = project["id"]
        assert project["status"] == "running", project
        assert get(deploy_hostd, project, "/bump") == "1 v1"
        assert get(deploy_hostd, project, "/bump") == "2 v1"

        commit(root, {"VERSION": "v2"})
        assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
        assert deployed(api, pid)["status"] == "running"
        assert get(deploy_hostd, project, "/") == "2 v2", "a redeploy lost /data"
        assert api.patch(f"/api/projects/{pid}/env", json={"env": {"X": "1"}}
                         ).status_code == 200
        assert api.post(f"/api/containers/{pid}/restart").status_code == 200
        assert get(deploy_hostd, project, "/bump") == "3 v2"
        assert run(api, pid, {"command": ["cat", "/data/count"]})[0] == \
            ("output", {"line": "3"}), "a one-off command does not see /data"
        assert run(api, pid, {"command": ["sh", "-c", "touch /app/new && echo ok"]})[0] == \
            ("output", {"line": "ok"}), "the app's working directory is not the app user's"

        (volume,) = volumes_of(engine, pid)
        gone = api.delete(f"/api/projects/{pid}")
        assert gone.status_code == 200, gone.text
        deadline = time.monotonic() + 20
        while volume in {v.name for v in engine.volumes.list()}:
            assert time.monotonic() < deadline, "the project's /data outlived it"
            time.sleep(0.5)

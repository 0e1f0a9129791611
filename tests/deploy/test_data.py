"""Every project has a /data of its own: the app (its template's non-root user) writes
there, what it wrote survives a redeploy, a config change and a restart, a one-off
command sees it, and it is gone with the project. It holds at most HOSTD_DATA_MB: a
write past it fails inside the container (ENOSPC) while the app and the host go on; its
filesystem is mounted again after a reboot and released (no mount, loop device or file
left) with the project. One-off and release containers' logs rotate as apps' do."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path

import docker
import docker.errors
import httpx

from tests.deploy.conftest import make_repo
from tests.deploy.test_run import run
from tests.deploy.test_zero_downtime import PACKAGE, commit, deployed
from tests.engine.test_datavol import detached
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, client_for, logged_in, tls

COUNTER_JS = """\
const fs = require("fs");
const file = "/data/count";
require("http").createServer((req, res) => {
  let n = 0;
  try { n = Number(fs.readFileSync(file, "utf8")); } catch (e) {}
  if (req.url === "/bump") { n += 1; fs.writeFileSync(file, String(n)); }
  if (req.url === "/fill") {  // more than the test daemon's 32 MB limit
    try { fs.writeFileSync("/data/fill", Buffer.alloc(48 * 1024 * 1024)); return res.end("wrote"); }
    catch (e) { return res.end(e.code); }
  }
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


def answer_once_up(server: HostdServer, project: dict) -> str:
    """`/` once the router reaches the app again (hostd brings it back after its start)."""
    host = project["url"].removeprefix("http://").split(":")[0]
    deadline = time.monotonic() + 90
    with httpx.Client(timeout=10, verify=tls()) as client:
        while True:
            reply = client.get(f"http://127.0.0.1:{server.router_port}/",
                               headers={"Host": host})
            if reply.status_code == 200:
                return reply.text
            assert time.monotonic() < deadline, server.logs()[-3000:]
            time.sleep(0.5)


def assert_released(data_dir: Path, project_id: str) -> None:
    volumes = data_dir.resolve() / "volumes"
    image, mountpoint = volumes / f"{project_id}.img", volumes / project_id
    assert not mountpoint.is_mount(), "the project's /data is still mounted"
    assert not image.exists() and not mountpoint.exists(), "its filesystem outlived it"
    assert detached(image), "a loop device leaked"


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
        image = deploy_hostd.data_dir.resolve() / "volumes" / f"{pid}.img"
        assert (image.parent / pid).is_mount() and not detached(image, within_s=0), \
            "/data is not a filesystem of its own"
        gone = api.delete(f"/api/projects/{pid}")
        assert gone.status_code == 200, gone.text
        deadline = time.monotonic() + 20
        while volume in {v.name for v in engine.volumes.list()}:
            assert time.monotonic() < deadline, "the project's /data outlived it"
            time.sleep(0.5)
        assert_released(deploy_hostd.data_dir, pid)


def test_data_holds_at_most_its_limit_and_is_mounted_again_after_a_reboot(
        engine: docker.DockerClient, base_images, tmp_path: Path) -> None:
    root = tmp_path / "filler"
    url = make_repo(root, {"package.json": PACKAGE, "server.js": COUNTER_JS, "VERSION": "v1"})
    data_dir = tmp_path / "data"
    with own_daemon(engine, data_dir, HOSTD_DATA_MB="32") as server:
        with logged_in(server) as api:
            created = api.post("/api/projects", json={"name": "filler", "github_url": url,
                                                      "template": "nodejs"})
            assert created.status_code == 201, created.text
            project = deployed(api, created.json()["project"]["id"])
            pid = project["id"]
            assert project["status"] == "running", project
            assert get(server, project, "/bump") == "1 v1"

            assert get(server, project, "/fill") == "ENOSPC", "the app wrote past the limit"
            events = run(api, pid, {"command": ["sh", "-c", "dd if=/dev/zero of=/data/more "
                                                "bs=1M count=64 2>&1; echo rc=$?"]})
            lines = [data["line"] for name, data in events if name == "output"]
            assert any("No space left on device" in line for line in lines), lines
            assert lines[-1] != "rc=0", lines
            image = data_dir.resolve() / "volumes" / f"{pid}.img"
            assert image.stat().st_blocks * 512 <= 32 * 1024**2, "the volume holds more"
            assert get(server, project, "/") == "1 v1", "the app did not serve on"
            assert run(api, pid, {"command": ["rm", "/data/fill", "/data/more"]})[-1] == \
                ("exit", {"code": 0, "timed_out": False})
            assert get(server, project, "/bump") == "2 v1", "a freed /data takes no write"
            token = api.headers["Authorization"]

        # A reboot: hostd and the app stop, the filesystem is no longer mounted.
        server.stop()
        container = engine.containers.list(filters={"label": f"hostd.project={pid}"})[0]
        container.stop(timeout=5)
        subprocess.run(["umount", str(image.parent / pid)], check=True)
        assert detached(image)
        server.start()
        with client_for(server, headers={"Authorization": token}) as api:
            assert answer_once_up(server, project) == "2 v1", "/data was not mounted again"
            assert (image.parent / pid).is_mount()
            # Deleted while something holds its filesystem: the reconciler finishes it.
            with (image.parent / pid / "data" / "count").open() as held:
                assert api.delete(f"/api/projects/{pid}").status_code == 200
                assert image.exists() and held.read() == "2"
        server.stop()
        server.start()
        deadline = time.monotonic() + 30
        while image.exists():
            assert time.monotonic() < deadline, "the project's filesystem outlived it"
            time.sleep(0.5)
        assert_released(data_dir, pid)


ROTATED = {"Type": "json-file", "Config": {"max-file": "2", "max-size": "7m"}}


def test_one_off_and_release_containers_rotate_their_logs(
        engine: docker.DockerClient, base_images, tmp_path: Path) -> None:
    root = tmp_path / "logger"
    url = make_repo(root, {"package.json": PACKAGE, "server.js": COUNTER_JS, "VERSION": "v1",
                           "Procfile": "release: sleep 3\n"})
    with own_daemon(engine, tmp_path / "data", HOSTD_CONTAINER_LOG_MB="7",
                    HOSTD_CONTAINER_LOG_FILES="2") as server, logged_in(server) as api:
        created = api.post("/api/projects", json={"name": "logger", "github_url": url,
                                                  "template": "nodejs"})
        assert created.status_code == 201, created.text
        pid = created.json()["project"]["id"]
        release = log_config_while_running(engine, pid, lambda: deployed(api, pid))
        assert release == ROTATED, "the release command's log is not rotated"
        assert deployed(api, pid)["status"] == "running"
        app = engine.containers.list(filters={"label": f"hostd.project={pid}"})[0]
        assert app.attrs["HostConfig"]["LogConfig"] == ROTATED
        one_off = log_config_while_running(
            engine, pid, lambda: run(api, pid, {"command": ["sleep", "3"]}))
        assert one_off == ROTATED, "a one-off command's log is not rotated"


def log_config_while_running(engine: docker.DockerClient, project_id: str, work) -> dict:
    """The LogConfig of the one-off container `work` starts for the project, read while it
    runs (it is removed when it ends)."""
    seen: list[dict] = []
    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 240
    while not seen and worker.is_alive() and time.monotonic() < deadline:
        # sparse: a plain list inspects each container, and one may end in between.
        for container in engine.containers.list(
                all=True, sparse=True, filters={"label": f"hostd.run-of={project_id}"}):
            with contextlib.suppress(docker.errors.NotFound):
                container.reload()
                seen.append(container.attrs["HostConfig"]["LogConfig"])
        time.sleep(0.1)
    worker.join(timeout=240)
    assert seen, "no one-off container was seen running"
    return seen[0]

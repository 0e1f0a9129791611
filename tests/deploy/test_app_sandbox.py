"""What an app container may leave on the host (hostd.engine.containers): a rotated log,
no anonymous volume after its container is gone, and for the nginx templates nothing
written outside a size-capped tmpfs /tmp. Real deploys on the real engine."""

from __future__ import annotations

import time

import docker
import httpx

from tests.deploy.conftest import create, only_container, wait_status
from tests.deploy.test_zero_downtime import deployed
from tests.support import HostdServer, tls

SITE = {"public/index.html": "<h1>read-only and still serving</h1>\n"}
WITH_VOLUME = {
    "Dockerfile": "FROM hostd/busybox:1\nVOLUME /cache\n"
                  "RUN mkdir -p /srv && echo volume > /srv/index.html\n"
                  'CMD ["sh", "-c", "exec httpd -f -p $PORT -h /srv"]\n',
}
ROTATED = {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}


def through_router(server: HostdServer, project: dict, path: str = "/") -> httpx.Response:
    host = project["url"].removeprefix("http://").split(":")[0]
    return httpx.get(f"http://127.0.0.1:{server.router_port}{path}", headers={"Host": host},
                     timeout=10, verify=tls())


def volumes_of(container) -> set[str]:
    """Its anonymous volumes: every volume but the project's own /data (which stays)."""
    return {m["Name"] for m in container.attrs["Mounts"]
            if m["Type"] == "volume" and m["Destination"] != "/data"}


def existing(engine: docker.DockerClient, names: set[str]) -> set[str]:
    """Which of `names` `docker volume ls` still lists (its name filter matches parts)."""
    found: set[str] = set()
    for name in names:
        listed = engine.api.volumes(filters={"name": name}).get("Volumes") or []
        found |= {v["Name"] for v in listed} & {name}
    return found


def gone_soon(engine: docker.DockerClient, names: set[str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while existing(engine, names):  # a replaced container goes after its drain
        assert time.monotonic() < deadline, f"volumes left behind: {existing(engine, names)}"
        time.sleep(0.2)


def test_a_static_app_runs_read_only_with_a_small_tmp_and_a_rotated_log(
        api, deploy_hostd, repo, engine) -> None:
    project = wait_status(api, create(api, "readonly", repo(SITE), "static")["id"],
                          {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    container = only_container(engine, project["id"])
    host = container.attrs["HostConfig"]
    assert host["LogConfig"] == ROTATED
    assert host["ReadonlyRootfs"] is True
    assert host["Tmpfs"] == {"/tmp": "rw,nosuid,nodev,noexec,size=64m"}
    assert not host.get("Binds") and volumes_of(container) == set()
    # Nothing but /tmp takes a write, even for files nginx's user could otherwise change.
    denied = container.exec_run(["sh", "-c", "touch /www/x"], user="0")
    assert denied.exit_code != 0 and b"Read-only file system" in denied.output
    assert container.exec_run(["sh", "-c", "touch /tmp/x"]).exit_code == 0
    served = through_router(deploy_hostd, project)
    assert served.status_code == 200 and "read-only and still serving" in served.text
    assert through_router(deploy_hostd, project, "/missing").status_code == 404
    # The engine's rotated json-file log reads back as before: nginx's access lines.
    deadline = time.monotonic() + 10
    while not any('"GET /missing' in line for line in api.get(
            f"/api/projects/{project['id']}/logs", params={"source": "runtime"}
    ).json()["lines"]):
        assert time.monotonic() < deadline, "the access log never showed the request"
        time.sleep(0.2)


def test_an_apps_anonymous_volume_goes_with_its_container(api, repo, engine) -> None:
    project = wait_status(api, create(api, "withvolume", repo(WITH_VOLUME), "static")["id"],
                          {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    first = only_container(engine, project["id"])
    assert first.attrs["HostConfig"]["LogConfig"] == ROTATED
    # A repository's own Dockerfile may write where it likes: not read-only.
    assert first.attrs["HostConfig"]["ReadonlyRootfs"] is False
    before = volumes_of(first)
    assert len(before) == 1 and existing(engine, before) == before

    assert api.post(f"/api/projects/{project['id']}/deploy").status_code == 202
    assert deployed(api, project["id"])["status"] == "running"
    second = only_container(engine, project["id"])
    assert second.id != first.id
    after = volumes_of(second)
    assert after and after != before
    gone_soon(engine, before)  # the replaced container went, and its volume with it

    assert api.delete(f"/api/projects/{project['id']}").status_code == 200
    gone_soon(engine, after, timeout=5)

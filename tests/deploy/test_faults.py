"""The daemon killed mid-deploy, and no engine at all: the state never lies."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.deploy.conftest import create, wait_status
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, auth, register, tls

SLOW_START = {
    # Serves only after 8 s: the deploy sits in its health check long enough to be cut.
    "Dockerfile": "FROM hostd/busybox:1\nRUN mkdir -p /srv && echo slow > /srv/index.html\n"
                  'CMD ["sh", "-c", "sleep 8; exec httpd -f -p $PORT -h /srv"]\n',
}


def test_kill9_mid_deploy_leaves_no_deploying_project_and_no_orphan(
        engine, base_images, repo, tmp_path):
    with own_daemon(engine, tmp_path / "data") as server:
        instance = server.instance
        with httpx.Client(base_url=server.url, timeout=30, verify=tls()) as client:
            token, _ = register(client)
            client.headers.update(auth(token))
            project = create(client, "cut", repo(SLOW_START), "static")
            wait_reason(client, project["id"], "waiting for the app to answer")
            server.kill9()
            label = {"label": f"hostd.instance={instance}"}
            assert engine.containers.list(filters=label), "the half-deployed container runs"

            server.start()
            client.base_url = server.url
            after = wait_status(client, project["id"], {"error", "running"}, timeout=30)
            assert after["status"] == "error" and "interrupted" in after["status_reason"]
            runs = client.get(f"/api/projects/{project['id']}/deployments").json()
            assert runs["deployments"][0]["status"] == "interrupted"
            deadline = time.monotonic() + 20
            while engine.containers.list(filters=label) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert engine.containers.list(filters=label) == [], "nothing of it still runs"
            # And it can be deployed again.
            assert client.post(f"/api/projects/{project['id']}/deploy").status_code == 202
            assert wait_status(client, project["id"], {"running", "error"})["status"] == "running"


def test_orphan_containers_are_removed_at_start(engine, base_images, repo, tmp_path):
    instance = f"test-{uuid.uuid4().hex[:12]}"
    label = {"hostd.instance": instance, "hostd.project": "no-such-project"}
    engine.containers.run("hostd/busybox:1", ["sleep", "60"], detach=True, labels=label)
    with own_daemon(engine, tmp_path / "data", instance=instance):
        deadline = time.monotonic() + 20
        filters = {"label": f"hostd.instance={instance}"}
        while engine.containers.list(all=True, filters=filters) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert engine.containers.list(all=True, filters=filters) == []


def test_no_engine_means_503_not_500(repo, tmp_path):
    server = HostdServer(data_dir=tmp_path / "data", env_overrides={
        "DOCKER_HOST": f"unix://{tmp_path}/no-docker-here.sock"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30, verify=tls()) as client:
            assert client.get("/healthz").json()["docker"] == "unreachable"
            token, _ = register(client)
            client.headers.update(auth(token))
            project = create(client, "lonely", repo({"index.html": "hi"}), "static")
            after = wait_status(client, project["id"], {"error", "running"}, timeout=30)
            assert after["status"] == "error" and "unreachable" in after["status_reason"]
            for action in ("start", "stop", "restart"):
                resp = client.post(f"/api/containers/{project['id']}/{action}")
                if resp.status_code != 200:
                    assert resp.status_code == 503, resp.text
                    assert resp.json()["error"] == "ServiceUnavailable"
            resp = client.post(f"/api/containers/{project['id']}/start")
            assert resp.status_code == 503
    finally:
        server.kill9()


def wait_reason(client: httpx.Client, project_id: str, reason: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        project = client.get(f"/api/projects/{project_id}").json()["project"]
        if project["status_reason"] == reason:
            return
        assert project["status"] == "deploying", project["status_reason"]
        time.sleep(0.1)
    raise AssertionError(f"never reached {reason!r}")

"""The daemon killed mid-deploy, and no engine at all: the state never lies."""

from __future__ import annotations

import io
import re
import time
import uuid

import httpx

from tests.deploy.conftest import create, wait_status
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, auth, logged_in, register, tls

FAILING_BUILD = {"Dockerfile": "FROM hostd/busybox:1\nRUN exit 3\n"}
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
            assert after["deploy_step"] is None, after  # no deploy runs: no step left
            assert after["last_deploy"]["status"] == "interrupted", after
            runs = client.get(f"/api/projects/{project['id']}/deployments").json()
            assert runs["deployments"][0]["status"] == "interrupted"
            deadline = time.monotonic() + 20
            while engine.containers.list(filters=label) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert engine.containers.list(filters=label) == [], "nothing of it still runs"
            # And it can be deployed again.
            assert client.post(f"/api/projects/{project['id']}/deploy").status_code == 202
            assert wait_status(client, project["id"], {"running", "error"})["status"] == "running"


def test_at_start_only_what_this_install_made_is_removed(engine, base_images, repo, tmp_path):
    """On a label another install may share, what names a project of this install's
    database goes (a deleted project's container and image, a container that is not its
    project's current one), each logged with why; what names no project of it stays."""
    instance = f"test-{uuid.uuid4().hex[:12]}"
    with own_daemon(engine, tmp_path / "data", instance=instance) as server:
        with logged_in(server) as client:
            kept = create(client, "kept", repo(FAILING_BUILD), "static")
            gone = create(client, "gone", repo(FAILING_BUILD), "static")
            for project in (kept, gone):
                assert wait_status(client, project["id"], {"error", "running"})["status"] \
                    == "error"
            assert client.delete(f"/api/projects/{gone['id']}").status_code == 200
        server.stop()
        left = stray_container(engine, instance, kept["id"])
        late = stray_container(engine, instance, gone["id"])
        theirs = stray_container(engine, instance, "a-project-of-another-install")
        late_image = stray_image(engine, instance, gone["id"])
        their_image = stray_image(engine, instance, "a-project-of-another-install")
        server.start()
        server.wait_for_log("following Docker engine events", timeout=30, count=2)
        filters = {"label": f"hostd.instance={instance}"}
        assert {c.id for c in engine.containers.list(all=True, filters=filters)} == {theirs}
        assert {i.id for i in engine.images.list(filters=filters)} == {their_image}
        assert late_image not in {i.id for i in engine.images.list()}
        logs = server.logs()
        assert f"({left[:12]}): not the current container of project {kept['id']}" in logs
        assert f"({late[:12]}): its project {gone['id']} was deleted" in logs
        assert re.search(rf"removing image \S+: its project {gone['id']} was deleted", logs)
        assert re.search(r"leaving 2 containers and images labelled hostd.instance="
                         rf"{instance} alone.*a-project-of-another-install", logs)


def stray_container(engine, instance: str, project_id: str) -> str:
    """A container on the engine with the instance's label, not made by its daemon now."""
    labels = {"hostd.instance": instance, "hostd.project": project_id}
    return engine.containers.run("hostd/busybox:1", ["sleep", "300"], detach=True,
                                 labels=labels).id


def stray_image(engine, instance: str, project_id: str) -> str:
    labels = {"hostd.instance": instance, "hostd.project": project_id}
    image, _ = engine.images.build(fileobj=io.BytesIO(b"FROM hostd/busybox:1\n"), rm=True,
                                   labels=labels, tag=f"hostd-test/{uuid.uuid4().hex}:stray")
    return image.id


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

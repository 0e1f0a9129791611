"""Deploys, lifecycle and failures on the real engine, through the real daemon."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.deploy.conftest import answers, create, only_container, published_port, wait_status
from tests.support import tls

SITE = {"public/index.html": "<h1>hello from a fixture</h1>\n"}


def test_static_project_lifecycle(api, repo, engine):
    project = create(api, "site", repo(SITE), "static")
    project = wait_status(api, project["id"], {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    port = published_port(engine, project["id"])
    assert "hello from a fixture" in answers(port).text

    assert api.post(f"/api/containers/{project['id']}/stop").status_code == 200
    assert api.get(f"/api/containers/{project['id']}/status").json()["status"] == "stopped"
    assert answers(port) is None

    assert api.post(f"/api/containers/{project['id']}/start").status_code == 200
    assert api.get(f"/api/containers/{project['id']}/status").json()["status"] == "running"
    port = published_port(engine, project["id"])
    assert answers(port).status_code == 200

    assert api.post(f"/api/containers/{project['id']}/restart").status_code == 200
    assert answers(published_port(engine, project["id"])).status_code == 200

    image = only_container(engine, project["id"]).image
    assert api.delete(f"/api/projects/{project['id']}").status_code == 200
    label = {"label": f"hostd.project={project['id']}"}
    assert engine.containers.list(all=True, filters=label) == []
    assert engine.images.list(filters={"label": f"hostd.project={project['id']}"}) == []
    # Ids only: listing images inspects each, which races anything else using the engine.
    assert image.id not in set(engine.api.images(quiet=True))
    assert api.get(f"/api/projects/{project['id']}").status_code == 404


def test_patch_status_starts_and_stops(api, repo, engine):
    project = wait_status(api, create(api, "patched", repo(SITE), "static")["id"], {"running"})
    resp = api.patch(f"/api/projects/{project['id']}/status", json={"status": "stopped"})
    assert resp.status_code == 200 and resp.json()["project"]["status"] == "stopped"
    resp = api.patch(f"/api/projects/{project['id']}/status", json={"status": "running"})
    assert resp.status_code == 200 and resp.json()["project"]["status"] == "running"
    resp = api.patch(f"/api/projects/{project['id']}/status", json={"status": "deploying"})
    assert resp.status_code == 400 and resp.json()["error"] == "ValidationError"


def test_container_security(api, repo, engine):
    project = wait_status(api, create(api, "locked", repo(SITE), "static")["id"], {"running"})
    (container,) = engine.containers.list(filters={"label": f"hostd.project={project['id']}"})
    host = container.attrs["HostConfig"]
    assert container.attrs["Config"]["User"] == "65534:65534"
    assert host["Privileged"] is False
    assert "no-new-privileges" in host["SecurityOpt"]
    assert "NET_RAW" in {c.removeprefix("CAP_") for c in host["CapDrop"]}
    assert host["Memory"] == 512 * 1024 * 1024 == host["MemorySwap"]
    assert host["NanoCpus"] == 1_000_000_000 and host["PidsLimit"] == 256
    # No bind mount (no host path, no Docker socket): the one mount is the project's own
    # named /data volume.
    assert not host.get("Binds")
    (mount,) = container.attrs["Mounts"]
    assert mount["Type"] == "volume" and mount["Destination"] == "/data", mount
    assert mount["Name"].endswith(f"-data-{project['id']}"), mount
    assert host["RestartPolicy"]["Name"] == "no"  # hostd restarts apps, not the engine
    assert {b["HostIp"] for b in host["PortBindings"]["8000/tcp"]} == {"127.0.0.1"}


def test_build_log_follow_streams_until_the_deploy_ends(api, repo):
    project = create(api, "followed", repo(SITE), "static")
    events = []
    with api.stream("GET", f"/api/projects/{project['id']}/logs",
                    params={"source": "build", "follow": "true"}, timeout=120) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in resp.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
                if name == "end":
                    break
    lines = [data["line"] for name, data in events if name == "log"]
    assert any(line.startswith("==> health_check") for line in lines)
    assert events[-1][0] == "end"


def status_changes(lines: Iterator[str], project_id: str, until, timeout: float = 30) -> list:
    """The project's `status_changed` events' data from an open event stream, up to the
    first for which `until(data)` holds."""
    changes, frame = [], {}
    deadline = time.monotonic() + timeout
    for line in lines:
        if line == "" and frame.get("event") == "status_changed":
            data = json.loads(frame["data"])
            if data["projectId"] == project_id:
                changes.append(data)
                if until(data):
                    return changes
        if line == "":
            frame = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            frame[key] = value
        assert time.monotonic() < deadline, f"gave up waiting; got {changes}"
    return changes


def test_redeploy_latest_commit(api, repo, engine):
    project = wait_status(api, create(api, "again", repo(SITE), "static")["id"], {"running"})
    assert project["deploy_step"] is None
    assert project["last_deploy"] == {"status": "succeeded", "reason": None}
    assert (project["source"], project["upload_digest"]) == ("git", None)
    # A client of its own: `api`'s response hook reads each body whole.
    with httpx.Client(base_url=api.base_url, headers=api.headers, verify=tls(),
                      timeout=httpx.Timeout(30, read=60)) as watcher, \
            watcher.stream("GET", "/api/containers/events") as stream:
        lines = stream.iter_lines()
        assert "event: connected" in (next(lines), next(lines))  # subscribed
        resp = api.post(f"/api/projects/{project['id']}/deploy")
        assert resp.status_code == 202, resp.text
        # The serving version serves on while the new one is built: `running`, deploying,
        # at the step its field names.
        answer = resp.json()["project"]
        assert answer["status"] == "running" and answer["deploying"] is True, answer
        assert answer["deploy_step"] == "queued", answer
        assert answer["status_reason"].startswith("deploying: "), answer
        done = wait_status(api, project["id"], {"running", "error"})
        changes = status_changes(lines, project["id"], lambda data: data["deploy_step"] is None)
    assert done["status"] == "running" and done["deploy_step"] is None, done
    assert done["last_deploy"] == {"status": "succeeded", "reason": None}, done
    steps = [data["deploy_step"] for data in changes]
    assert steps[0] == "queued" and {"clone", "build", "health_check", "switch"} <= set(steps)
    assert all(data["status"] == "running" for data in changes), changes
    assert changes[-1]["last_deploy"] == {"status": "succeeded", "reason": None}
    runs = api.get(f"/api/projects/{project['id']}/deployments").json()["deployments"]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    # Both releases keep their images (rollback targets; tests/deploy/test_releases.py
    # has the pruning beyond HOSTD_RELEASES_KEPT).
    assert len(engine.images.list(filters={"label": f"hostd.project={project['id']}"})) == 2


@pytest.mark.parametrize("template, files, expected", [
    ("flask", {"app.py": "from flask import Flask\napp = Flask(__name__)\n\n"
               "@app.get('/')\ndef index():\n    return 'hello from flask'\n",
               "requirements.txt": "flask\ngunicorn\n"}, "hello from flask"),
    ("nodejs", {"package.json": json.dumps({"name": "n", "version": "1.0.0",
                                            "scripts": {"start": "node server.js"}}),
                "server.js": "require('http').createServer((q, s) => s.end('hello from node'))"
                             ".listen(process.env.PORT)\n"}, "hello from node"),
    ("react", {"package.json": json.dumps({"name": "r", "version": "1.0.0", "scripts": {
        "build": "mkdir -p dist && echo '<p>hello from react</p>' > dist/index.html"}})},
     "hello from react"),
])
def test_each_template_deploys(api, repo, engine, template, files, expected):
    project = create(api, f"t-{template}", repo(files), template)
    project = wait_status(api, project["id"], {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    assert expected in answers(published_port(engine, project["id"])).text
    # react serves with the nginx base, made for a read-only root (tests/deploy/test_app_sandbox.py)
    host = only_container(engine, project["id"]).attrs["HostConfig"]
    assert host["ReadonlyRootfs"] is (template == "react")


def test_a_nodejs_project_runs_on_the_line_it_asks_for(api, repo, engine):
    package = {"name": "v", "version": "1.0.0", "engines": {"node": "22.x"},
               "scripts": {"start": "node server.js"}}
    files = {"package.json": json.dumps(package), "server.js": (
        "require('http').createServer((q, s) => s.end(process.version))"
        ".listen(process.env.PORT)\n")}
    project = wait_status(api, create(api, "on-22", repo(files), "nodejs")["id"],
                          {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    assert answers(published_port(engine, project["id"])).text.startswith("v22.")


def test_a_node_range_hostd_cannot_meet_fails_the_deploy(api, repo):
    files = {"package.json": json.dumps({"name": "old", "engines": {"node": "^16"}})}
    project = wait_status(api, create(api, "on-16", repo(files), "nodejs")["id"],
                          {"running", "error"})
    assert project["status"] == "error"
    assert "no Node.js line hostd has satisfies it (it has 22 (" in project["status_reason"]


def test_requests_never_see_another_users_logs(api, deploy_hostd, repo):
    project = create(api, "private", repo(SITE), "static")
    with httpx.Client(base_url=deploy_hostd.url, verify=tls()) as other:
        from tests.support import auth, register

        token, _ = register(other)
        for path in (f"/api/projects/{project['id']}/logs",
                     f"/api/projects/{project['id']}/deployments",
                     f"/api/containers/{project['id']}/status"):
            resp = other.get(path, headers=auth(token))
            assert resp.status_code == 404, path
    wait_status(api, project["id"], {"running", "error"})
    time.sleep(0)  # the session finalizer removes the container

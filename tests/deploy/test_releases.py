"""Releases and rollback on the real engine: every successful deploy and config change is
the next vN; a rollback is a new release with an old one's image and config, switched to
without a failed request; pruning keeps the newest HOSTD_RELEASES_KEPT releases' images,
and a rollback to a pruned one is a 409, never a rebuild."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.deploy.conftest import make_repo
from tests.deploy.test_zero_downtime import SteadyClient, commit, deployed, first_release
from tests.plugins.engine import own_daemon
from tests.support import auth, register, tls


def releases(api: httpx.Client, pid: str) -> list[dict]:
    resp = api.get(f"/api/projects/{pid}/releases")
    assert resp.status_code == 200, resp.text
    return resp.json()["releases"]


def test_deploys_and_config_changes_are_releases_and_a_rollback_goes_back(
        api, deploy_hostd, tmp_path):
    project, root = first_release(api, tmp_path, "history")
    pid = project["id"]
    commit(root, {"VERSION": "v2"})
    assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
    deployed(api, pid)
    assert api.patch(f"/api/projects/{pid}/env", json={"env": {"GREETING": "-hi"}}
                     ).status_code == 200
    history = releases(api, pid)
    assert [r["version"] for r in history] == [3, 2, 1]
    assert [r["current"] for r in history] == [True, False, False]
    assert history[0]["cause"] == "env: set GREETING"
    assert history[1]["cause"] == f"deploy {history[1]['commit'][:7]}"
    assert history[0]["image"] == history[1]["image"] != history[2]["image"]
    assert "-hi" not in str(history)  # config values never appear in the history
    assert api.get(f"/api/projects/{pid}").json()["project"]["release"] == 3

    with SteadyClient(deploy_hostd, project).running() as steady:
        time.sleep(0.3)
        resp = api.post(f"/api/projects/{pid}/rollback", json={})
        assert resp.status_code == 200, resp.text
        time.sleep(0.3)
    assert resp.json()["release"]["version"] == 4 and resp.json()["release"]["current"]
    assert resp.json()["message"] == "Rolled back to v2: now v4"
    assert steady.failures() == [], steady.failures()[:5]
    assert steady.bodies() == ["v2-hi", "v2"]  # v2 had no GREETING
    assert api.get(f"/api/projects/{pid}/env").json()["env"] == {}
    assert releases(api, pid)[0]["cause"] == "rollback to v2"

    resp = api.post(f"/api/projects/{pid}/rollback", json={"version": 1})
    assert resp.status_code == 200 and resp.json()["release"]["version"] == 5
    assert steady_body(deploy_hostd, project) == "v1"


def steady_body(server, project: dict) -> str:
    host = project["url"].removeprefix("http://").split(":")[0]
    return httpx.get(f"http://127.0.0.1:{server.router_port}/", headers={"Host": host},
                     timeout=10, verify=tls()).text


def test_pruning_keeps_the_newest_releases_images(engine, base_images, tmp_path: Path):
    with own_daemon(engine, tmp_path / "data", HOSTD_RELEASES_KEPT="2") as server, \
            httpx.Client(base_url=server.url, timeout=30, verify=tls()) as api:
        token, _ = register(api)
        api.headers.update(auth(token))
        root = tmp_path / "site"
        url = make_repo(root, {"index.html": "<h1>one</h1>\n"})
        resp = api.post("/api/projects", json={"name": "pruned", "github_url": url,
                                               "template": "static"})
        pid = resp.json()["project"]["id"]
        deployed(api, pid)
        for text in ("two", "three"):
            commit(root, {"index.html": f"<h1>{text}</h1>\n"})
            assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
            assert deployed(api, pid)["status"] == "running"
        images = {r["version"]: r["image"] for r in releases(api, pid)}
        present = {image.tags[0] for image in engine.images.list(
            filters={"label": f"hostd.project={pid}"}) if image.tags}
        assert present == {images[3], images[2]}
        resp = api.post(f"/api/projects/{pid}/rollback", json={"version": 1})
        assert resp.status_code == 409 and "pruned" in resp.json()["message"]
        assert [r["version"] for r in releases(api, pid)] == [3, 2, 1]  # nothing rebuilt
        resp = api.post(f"/api/projects/{pid}/rollback", json={"version": 2})
        assert resp.status_code == 200 and resp.json()["release"]["version"] == 4

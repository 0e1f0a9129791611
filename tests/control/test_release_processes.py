"""A release carries its process types on FakeRuntime: a deploy records the Procfile's
(`release:` aside), a config change keeps the current release's, a rollback to vN takes
vN's (the types of the image it runs); a malformed Procfile fails the deploy, saying why,
and the release that was serving serves on."""

from __future__ import annotations

from typing import Any

import httpx

from tests.control.conftest import SITE, commit_files, deployed, redeployed, until_one_replica

PROCFILE = "web: ./serve --port $PORT  # the router's\nworker: ./work\nrelease: ./migrate\n"


def newest_release(client: httpx.Client, project_id: str) -> dict[str, Any]:
    resp = client.get(f"/api/projects/{project_id}/releases")
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["releases"][0])


def test_releases_carry_the_procfiles_types_through_changes_and_rollbacks(daemon, repo):
    with daemon.logged_in() as client:
        daemon.fake.script_command(["sh", "-c"])  # the release phase passes
        pid = deployed(client, repo, files={**SITE, "Procfile": PROCFILE})["id"]
        v1 = newest_release(client, pid)
        assert v1["processes"] == {"web": "./serve --port $PORT", "worker": "./work"}
        assert list(v1["processes"]) == ["web", "worker"]  # the Procfile's order
        resp = client.patch(f"/api/projects/{pid}/env", json={"env": {"A": "1"}})
        assert resp.status_code == 200, resp.text
        v2 = newest_release(client, pid)
        assert (v2["version"], v2["processes"]) == (2, v1["processes"])
        url = client.get(f"/api/projects/{pid}").json()["project"]["github_url"]
        commit_files(url, {"Procfile": "web: ./serve2\nclock: ./tick\n"})
        assert redeployed(client, pid)["release"] == 3
        assert newest_release(client, pid)["processes"] == {"web": "./serve2",
                                                            "clock": "./tick"}
        until_one_replica(daemon, client, pid)
        resp = client.post(f"/api/projects/{pid}/rollback", json={"version": 1})
        assert resp.status_code == 200, resp.text
        assert resp.json()["release"]["processes"] == v1["processes"]
        assert newest_release(client, pid)["processes"] == v1["processes"]


def test_a_deploy_without_a_procfile_records_no_types_yet(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        assert newest_release(client, pid)["processes"] == {}


def test_a_malformed_procfile_fails_the_deploy_naming_its_line(daemon, repo):
    with daemon.logged_in() as client:
        before = deployed(client, repo)
        url = before["github_url"]
        commit_files(url, {"Procfile": "web: ./a\nweb: ./b\n"})
        after = redeployed(client, before["id"])
        assert after["release"] == 1 and after["status"] == "running", after
        assert after["last_deploy"]["status"] == "failed", after
        assert "Procfile line 2: process names must be unique" in \
            after["last_deploy"]["reason"], after

"""`hostctl up` end to end: a directory's code deployed on the real engine, served through
the router, redeployed when it changes and left alone when it does not."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from hostctl.cli import app
from tests.deploy.conftest import DEPLOY_TIMEOUT_S
from tests.support import HostdServer, tls

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


@pytest.fixture
def up(deploy_hostd: HostdServer, api: httpx.Client, tmp_path: Path, engine):
    """`hostctl up ARGS…` as the api fixture's user; returns the CliRunner result."""
    token = api.headers["Authorization"].removeprefix("Bearer ")
    env = {"HOSTCTL_API_URL": deploy_hostd.url, "HOSTCTL_TOKEN": token,
           "HOSTCTL_CONFIG_DIR": str(tmp_path / "hostctl-config")}

    def run(*args: str):
        result = CliRunner().invoke(app, ["up", *args, "--timeout", str(DEPLOY_TIMEOUT_S)],
                                    env=env)
        assert result.exit_code == 0, result.output + result.stderr
        return result

    return run


def served(server: HostdServer, url: str, path: str = "/") -> httpx.Response:
    """GET through the router, by the project's host name."""
    host = urlsplit(url).netloc
    deadline = time.monotonic() + 10
    while True:
        resp = httpx.get(f"http://127.0.0.1:{server.router_port}{path}", headers={"Host": host},
                         timeout=5, verify=tls())
        if resp.status_code != 503 or time.monotonic() > deadline:
            return resp
        time.sleep(0.2)


def project_named(api: httpx.Client, name: str) -> dict:
    return next(p for p in api.get("/api/projects").json()["projects"] if p["name"] == name)


def releases(api: httpx.Client, project_id: str) -> list[dict]:
    return api.get(f"/api/projects/{project_id}/releases").json()["releases"]


def test_up_deploys_a_plain_directory_then_its_changes_and_not_the_same_again(
        deploy_hostd, api, up, tmp_path):
    name = f"site-{uuid.uuid4().hex[:6]}"
    root = tmp_path / name
    root.mkdir()
    (root / "index.html").write_text("<h1>v1</h1>")
    first = up(str(root))
    assert "template: static (index.html)" in first.stderr  # detected, and said
    project = project_named(api, name)
    assert project["status"] == "running" and project["github_url"].startswith("upload:")
    assert project["source"] == "upload" and len(project["upload_digest"]) == 64
    assert project["github_url"] == f"upload:{project['upload_digest']}"
    assert project["deploy_step"] is None
    assert project["last_deploy"] == {"status": "succeeded", "reason": None}
    assert project["url"] in first.stdout
    assert served(deploy_hostd, project["url"]).text == "<h1>v1</h1>"

    (root / "index.html").write_text("<h1>v2</h1>")
    up(str(root))
    assert served(deploy_hostd, project["url"]).text == "<h1>v2</h1>"
    assert project_named(api, name)["upload_digest"] not in (None, project["upload_digest"])
    after = releases(api, project["id"])
    assert [r["version"] for r in after] == [2, 1] and after[0]["cause"].startswith("upload ")

    again = up(str(root))
    assert "unchanged" in again.stdout
    assert len(releases(api, project["id"])) == 2
    redeploy = api.post(f"/api/projects/{project['id']}/deploy")  # the last upload, rebuilt
    assert redeploy.status_code == 202, redeploy.text
    assert api.delete(f"/api/projects/{project['id']}").status_code == 200
    assert not (deploy_hostd.data_dir / "sources" / project["id"]).exists()


def test_up_of_a_git_directory_sends_uncommitted_changes_not_ignored_files(
        deploy_hostd, api, up, tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "index.html").write_text("committed")
    (root / ".gitignore").write_text("secret.txt\n")
    subprocess.run([*GIT, "-C", str(root), "init", "-q", "-b", "main"], check=True)
    subprocess.run([*GIT, "-C", str(root), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(root), "commit", "-q", "-m", "x"], check=True)
    (root / "index.html").write_text("uncommitted")
    (root / "secret.txt").write_text("do not ship")
    name = f"git-{uuid.uuid4().hex[:6]}"
    up(str(root), "--name", name, "--template", "static")
    project = project_named(api, name)
    assert served(deploy_hostd, project["url"]).text == "uncommitted"
    assert served(deploy_hostd, project["url"], "/secret.txt").status_code == 404
    api.delete(f"/api/projects/{project['id']}")

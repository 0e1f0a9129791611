"""With a Docker engine and the Docker routes: a static site deployed, watched, stopped, deleted."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from hostctl.exit_codes import ExitCode

pytestmark = pytest.mark.docker


def create_static(hostctl, name: str, repo: Path) -> None:
    created = hostctl("projects", "create", name, "--repo", str(repo), "--template", "static",
                      "--timeout", "600", "--json")
    assert created.exit_code == 0, created.stderr
    assert json.loads(created.stdout)["project"]["status"] == "running"


@pytest.fixture
def static_repo(tmp_path: Path) -> Path:
    """A local git repository holding one page (hostd allows local repos in tests)."""
    repo = tmp_path / "site"
    repo.mkdir()
    (repo / "index.html").write_text("<h1>hello from hostctl</h1>\n")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "site"], check=True)
    return repo


def test_static_project_lifecycle(engine, logged_in, static_repo):
    name = f"site{uuid.uuid4().hex[:6]}"
    try:
        create_static(logged_in, name, static_repo)

        snapshot = json.loads(logged_in("top", "--once", "--json").stdout)["projects"]
        row = next(p for p in snapshot if p["name"] == name)
        assert row["status"] == "running" and row["memory"] is not None

        assert logged_in("projects", "stop", name).exit_code == 0
        status = logged_in("projects", "status", name, "--json")
        assert json.loads(status.stdout)["status"] != "running"
        started = logged_in("projects", "start", name)
        assert started.exit_code == 0, started.stderr
        status = logged_in("projects", "status", name, "--json")
        assert json.loads(status.stdout)["status"] == "running"
        assert logged_in("projects", "logs", name, "--build", "--json").exit_code == 0
    finally:
        logged_in("projects", "delete", name, "--yes")
    assert logged_in("projects", "show", name).exit_code == ExitCode.NOT_FOUND


def test_deploy_again_and_follow_the_build_log(engine, logged_in, static_repo):
    name = f"redo{uuid.uuid4().hex[:6]}"
    try:
        create_static(logged_in, name, static_repo)
        deployed = logged_in("projects", "deploy", name, "--timeout", "600", "--json")
        assert deployed.exit_code == 0, deployed.stderr
        assert json.loads(deployed.stdout)["project"]["status"] == "running"
        # The deploy is over, so following its build log prints it and ends on its own.
        followed = logged_in("projects", "logs", name, "--build", "-f", "-n", "500", "--json")
        assert followed.exit_code == 0, followed.stderr
        lines = [json.loads(row)["line"] for row in followed.stdout.splitlines()]
        assert any(line.startswith("==> health_check") for line in lines)
        assert any(line.startswith("deployed:") for line in lines)
    finally:
        logged_in("projects", "delete", name, "--yes")

"""A Procfile's `release:` on the engine: it runs in a container of the new release before
that release serves, its output is in the build log, the config vars and /data really
reach it, and its container is gone afterwards. (Its order in a deploy, and a failing one
keeping the release that was serving: tests/control/test_release_phase.py and
test_deploy_failures.py, on FakeRuntime.)"""

from __future__ import annotations

from pathlib import Path

import docker

from tests.deploy.test_data import get
from tests.deploy.test_run import run
from tests.deploy.test_zero_downtime import commit, deployed, first_release
from tests.support import HostdServer, logged_in


def test_a_release_command_sees_the_config_vars_and_data_and_then_the_release_ships(
        deploy_hostd: HostdServer, engine: docker.DockerClient, tmp_path: Path) -> None:
    with logged_in(deploy_hostd) as api:
        project, root = first_release(api, tmp_path, "released")
        pid = project["id"]
        assert api.patch(f"/api/projects/{pid}/env", json={"env": {"STAGE": "prod"}}
                         ).status_code == 200
        (root / "Procfile").write_text(
            "release: echo migrating $STAGE; echo $STAGE > /data/released\n")
        git_add(root)
        commit(root, {"VERSION": "v2"})
        assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
        after = deployed(api, pid)
        assert after["status"] == "running" and after["status_reason"] is None, after
        assert get(deploy_hostd, project, "/").startswith("v2")
        log = api.get(f"/api/projects/{pid}/logs",
                      params={"source": "build", "tail": 200}).json()["lines"]
        assert "release: migrating prod" in log
        assert run(api, pid, {"command": ["cat", "/data/released"]})[0] == \
            ("output", {"line": "prod"})
        leftovers = engine.containers.list(all=True,
                                           filters={"label": f"hostd.run-of={pid}"})
        assert leftovers == []


def git_add(root: Path) -> None:
    import subprocess

    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)

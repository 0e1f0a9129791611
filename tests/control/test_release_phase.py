"""A Procfile's `release:` on FakeRuntime: it runs once, as a one-off of the new image with
the project's config vars, before the new release starts; its output goes to the build
log and its replica is removed. (When it fails: tests/control/test_deploy_failures.py.
That the vars and /data really reach it in a container: tests/deploy/test_release_phase.py.)"""

from __future__ import annotations

from tests.control.conftest import SITE, build_log, commit_files, deployed, redeployed


def test_a_passing_release_command_runs_before_the_new_release_starts(daemon, repo):
    url = repo(SITE)
    with daemon.logged_in() as client:
        pid = deployed(client, lambda _: url)["id"]
        assert client.patch(f"/api/projects/{pid}/env", json={"env": {"STAGE": "prod"}}
                            ).status_code == 200
        commit_files(url, {"Procfile": "release: echo migrating $STAGE\n"})
        daemon.fake.script_command(["sh", "-c"], output=["migrating prod"])
        after = redeployed(client, pid)
        assert (after["status"], after["status_reason"], after["release"]) == \
            ("running", None, 3), after
        (once,) = daemon.fake.calls_of("run_once")
        assert once[0].command == ["sh", "-c", "echo migrating $STAGE"]
        assert once[0].env["STAGE"] == "prod" and once[0].project_id == pid
        (serving,) = daemon.fake.replicas(pid)
        assert daemon.fake.env_of(serving.id)["STAGE"] == "prod"
        calls = [name for name, _ in daemon.fake.calls]
        assert calls.index("run_once") < len(calls) - 1 - calls[::-1].index("run"), calls
        (run_id,) = [e.replica_id for e in daemon.fake.history()
                     if e.action == "start" and e.project_id is None]  # a one-off's
        assert daemon.fake.inspect(run_id) is None, "the release command's replica stayed"
        assert "release: migrating prod" in build_log(client, pid)

"""Failed deploys on FakeRuntime: a first deploy that fails for each cause ends `error`
with its reason (a replica that started is stopped but kept, its log readable); a failed
redeploy, or one whose release command fails, keeps the old release serving; a deploy
superseded by a newer one ends cancelled and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hostd.control import buildlog
from tests.control.conftest import (
    SITE,
    build_log,
    commit_files,
    created,
    deploy_over,
    deployed,
    redeployed,
    runtime_log,
    until,
    until_one_replica,
)
from tests.fakes.daemon import FakeDaemon, fake_daemon
from tests.fakes.runtime import FakeRuntime

NEVER_ANSWERS = ("the app did not answer HTTP on $PORT (8000) within 1s: "
                 "make it listen on 0.0.0.0:$PORT")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    """A health check that gives up after 1 s (an app that never answers fails fast)."""
    with fake_daemon(tmp_path / "data", HOSTD_HEALTH_TIMEOUT=1) as running:
        yield running


def failed(project: dict[str, Any], reason: str) -> None:
    assert project["status"] == "error", project
    assert project["status_reason"] == reason, project
    assert project["last_deploy"] == {"status": "failed", "reason": reason}, project
    assert project["deploy_step"] is None and project["release"] is None, project


# --- a first deploy -------------------------------------------------------------------------


@pytest.mark.parametrize(("oom", "reason"), [
    (False, "the build failed: error: cannot find module 'left-pad'"),
    (True, "the build ran out of memory (limit 2048 MB) — see the build log")])
def test_a_first_deploy_whose_build_fails_ends_in_error(daemon, repo, oom, reason):
    daemon.fake.fail_next_build(log_tail=["compiling", "error: cannot find module 'left-pad'"],
                                oom=oom)
    with daemon.logged_in() as client:
        pid = created(client, repo)
        failed(deploy_over(client, pid), reason)
        assert "compiling" in build_log(client, pid)
        assert f"deploy failed: {reason}" in build_log(client, pid)
        assert daemon.fake.replicas(pid) == [] and daemon.fake.calls_of("run") == []
        runs = client.get(f"/api/projects/{pid}/deployments").json()["deployments"]
        assert [(r["status"], r["reason"]) for r in runs] == [("failed", reason)]


def test_a_first_deploy_whose_source_is_refused_ends_in_error(daemon, repo):
    refusal = "the Dockerfile's base image evil/miner:latest is not on hostd's allowlist"
    daemon.fake.refuse_next_build(refusal)
    with daemon.logged_in() as client:
        pid = created(client, repo)
        failed(deploy_over(client, pid), refusal)
        assert daemon.fake.replicas(pid) == []


def test_a_first_deploy_whose_repository_is_missing_ends_in_error(daemon):
    with daemon.logged_in() as client:
        resp = client.post("/api/projects", json={
            "name": "nowhere", "github_url": "file:///nonexistent/repo.git",
            "template": "static"})
        assert resp.status_code == 201, resp.text
        pid = resp.json()["project"]["id"]
        project = deploy_over(client, pid)
        assert project["status"] == "error", project
        assert "could not reach the repository" in project["last_deploy"]["reason"], project
        assert any("could not reach the repository" in line for line in build_log(client, pid))
        assert daemon.fake.calls_of("build") == []


def test_a_restart_of_a_project_whose_first_deploy_failed_deploys_it_again(daemon, repo):
    daemon.fake.fail_next_build()
    with daemon.logged_in() as client:
        pid = created(client, repo)
        assert deploy_over(client, pid)["status"] == "error"
        resp = client.post(f"/api/containers/{pid}/restart")
        assert resp.status_code == 200, resp.text
        project = deploy_over(client, pid, deployments=2)
        assert (project["status"], project["release"]) == ("running", 1), project
        assert project["last_deploy"] == {"status": "succeeded", "reason": None}


def start_fails(daemon: FakeDaemon, client: httpx.Client, repo: Callable[[dict[str, str]], str],
                fault: Callable[[str], None], reason: str) -> str:
    """A first deploy whose replica starts but never serves, for `fault(project id)`; the
    project once it has failed, checked: its replica stopped, kept, its log readable."""
    daemon.fake.slow_next_build(1.0)  # time to aim the fault at the new project's id
    pid = created(client, repo)
    fault(pid)
    failed(deploy_over(client, pid), reason)
    (replica,) = daemon.fake.replicas(pid)
    assert not replica.running, "a failed first deploy's replica is stopped"
    daemon.fake.write_log(replica.id, "Traceback: the app's last words")
    assert runtime_log(client, pid)[-1] == "Traceback: the app's last words"
    return pid


def test_a_first_deploy_whose_app_exits_at_start_keeps_its_stopped_replica(daemon, repo):
    with daemon.logged_in() as client:
        start_fails(daemon, client, repo, lambda pid: daemon.fake.exit_on_start(pid, code=3),
                    "the app exited with code 3 while starting")


def test_a_first_deploy_whose_app_never_answers_keeps_its_stopped_replica(daemon, repo):
    with daemon.logged_in() as client:
        pid = start_fails(daemon, client, repo, daemon.fake.never_serves, NEVER_ANSWERS)
        assert "waiting up to 1s for HTTP on $PORT" in build_log(client, pid)


# --- a redeploy -----------------------------------------------------------------------------


def assert_kept(daemon: FakeDaemon, client: httpx.Client, before: dict[str, Any],
                after: dict[str, Any], serving: str, reason: str) -> None:
    """The old release serves on: `running`, same release, the same one replica (still
    the project's: its log is the project's), the deploy's failure in its fields."""
    assert after["status"] == "running", after
    assert after["status_reason"] == f"the last deploy failed: {reason}", after
    assert after["last_deploy"] == {"status": "failed", "reason": reason}, after
    assert after["release"] == before["release"] == 1 and after["deploy_step"] is None
    (replica,) = daemon.fake.replicas(before["id"])
    assert replica.id == serving and replica.running
    assert not [args for args in daemon.fake.calls_of("stop") if args[0] == serving]
    daemon.fake.write_log(serving, "still serving")
    assert runtime_log(client, before["id"])[-1] == "still serving"
    runs = client.get(f"/api/projects/{before['id']}/deployments").json()["deployments"]
    assert [(r["status"], r["reason"]) for r in runs] == [("failed", reason),
                                                          ("succeeded", None)]


REDEPLOY_FAULTS: dict[str, tuple[Callable[[FakeRuntime, str], None], str]] = {
    "build fails": (lambda fake, pid: fake.fail_next_build(log_tail=["error: syntax"]),
                    "the build failed: error: syntax"),
    "app exits": (lambda fake, pid: fake.exit_on_start(pid, code=3),
                  "the app exited with code 3 while starting"),
    "never answers": (lambda fake, pid: fake.never_serves(pid), NEVER_ANSWERS),
}


@pytest.mark.parametrize("cause", list(REDEPLOY_FAULTS))
def test_a_failed_redeploy_keeps_the_old_release_serving(daemon, repo, cause):
    fault, reason = REDEPLOY_FAULTS[cause]
    with daemon.logged_in() as client:
        before = deployed(client, repo)
        (serving,) = daemon.fake.replicas(before["id"])
        fault(daemon.fake, before["id"])
        after = redeployed(client, before["id"])
        assert_kept(daemon, client, before, after, serving.id, reason)


def test_a_failing_release_command_fails_the_deploy_and_keeps_the_old_release(daemon, repo):
    url = repo(SITE)
    with daemon.logged_in() as client:
        before = deployed(client, lambda _: url)
        (serving,) = daemon.fake.replicas(before["id"])
        commit_files(url, {"Procfile": "release: echo migrating; exit 4\n"})
        daemon.fake.script_command(["sh", "-c"], exit_code=4, output=["migrating"])
        after = redeployed(client, before["id"])
        assert_kept(daemon, client, before, after, serving.id,
                    "the release command exited with code 4")
        (once,) = daemon.fake.calls_of("run_once")
        assert once[0].command == ["sh", "-c", "echo migrating; exit 4"]
        assert "release: migrating" in build_log(client, before["id"])
        assert len(daemon.fake.calls_of("run")) == 1, "the new release started no replica"


def test_a_superseded_deploy_ends_cancelled_and_leaves_nothing(daemon, repo):
    with daemon.logged_in() as client:
        project = deployed(client, repo)
        pid = project["id"]
        daemon.fake.slow_next_build(5.0)
        assert client.post(f"/api/projects/{pid}/deploy").status_code == 202
        until(client, pid, lambda p: p["deploy_step"] == "build")
        after = redeployed(client, pid)  # supersedes the slow one
        assert after["status"] == "running" and after["release"] == 2, after
        assert after["last_deploy"] == {"status": "succeeded", "reason": None}, after
        newest, cancelled, first = client.get(
            f"/api/projects/{pid}/deployments").json()["deployments"]
        assert (cancelled["status"], cancelled["reason"]) == ("failed",
                                                             "superseded by a new deploy")
        assert cancelled["image"] is None
        assert "deploy cancelled: superseded by a new deploy" in open_log(daemon, pid,
                                                                          cancelled["id"])
        images = set(daemon.fake.project_images(pid))
        assert images == {first["image"], newest["image"]}, "the cancelled build left one"
        runs = [args[0].labels["hostd.deployment"] for args in daemon.fake.calls_of("run")]
        assert cancelled["id"] not in runs, "the cancelled deploy started a replica"
        (replica,) = until_one_replica(daemon, client, pid)
        assert replica.labels["hostd.deployment"] == newest["id"]


def open_log(daemon: FakeDaemon, project_id: str, deployment_id: str) -> str:
    """A deployment's build log, read from the data dir (the route shows the newest)."""
    return buildlog.log_path(daemon.data_dir, project_id, deployment_id).read_text()


def test_a_deploy_superseded_during_its_health_check_removes_its_replica_and_image(
        tmp_path, repo):
    with fake_daemon(tmp_path / "data", HOSTD_HEALTH_TIMEOUT=60) as daemon, \
            daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        daemon.fake.never_serves(pid)
        assert client.post(f"/api/projects/{pid}/deploy").status_code == 202
        until(client, pid, lambda p: p["deploy_step"] == "health_check")
        daemon.fake.clear_faults()  # the deploy that supersedes it serves
        after = redeployed(client, pid)
        assert (after["status"], after["release"]) == ("running", 2), after
        newest, cancelled, _ = client.get(
            f"/api/projects/{pid}/deployments").json()["deployments"]
        assert (cancelled["status"], cancelled["reason"]) == ("failed",
                                                             "superseded by a new deploy")
        assert cancelled["image"] and not daemon.fake.image_exists(cancelled["image"])
        (replica,) = until_one_replica(daemon, client, pid)
        assert replica.labels["hostd.deployment"] == newest["id"]
        made = [r for r in daemon.fake.calls_of("run")
                if r[0].labels["hostd.deployment"] == cancelled["id"]]
        assert len(made) == 1, "it had started a replica, removed with the cancel"

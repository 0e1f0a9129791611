"""Reconcile at start, on FakeRuntime: the daemon stops, the engine changes behind its
back, and the next start makes the two agree again (hostd.control.reconcile): what should
run runs (started again, or recreated), what should not is stopped, what this install
made and nothing needs is removed, another install's is left alone, and a deploy the stop
cut short ends `interrupted`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from hostd.control.oneoff import RUN_OF_LABEL
from hostd.control.reconcile import INTERRUPTED
from hostd.control.runtime import ProcessSpec
from hostd.naming import PROJECT_LABEL, USER_LABEL, labels_for
from tests.control.conftest import WAIT_S, deployed, until
from tests.fakes.daemon import FakeDaemon, fake_daemon
from tests.fakes.runtime import FakeRuntime

INSTANCE = "reconcile-test"  # the same at both starts: the label says what is this install's


def until_true(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def token_of(client: httpx.Client) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ")


def stray(fake: FakeRuntime, project_id: str, user_id: str, image: str, name: str) -> str:
    """A replica labelled with this instance and `project_id`, that no project runs."""
    spec = ProcessSpec(project_id=project_id, user_id=user_id, image=image, name=name,
                       env={}, labels=labels_for(INSTANCE, project_id, user_id, "cut-short"))
    return fake.run(spec).first.id


def test_the_next_start_makes_the_engine_agree_with_the_database(tmp_path, repo):
    fake, data = FakeRuntime(), tmp_path / "data"
    with fake_daemon(data, fake, HOSTD_INSTANCE=INSTANCE) as first, \
            first.logged_in() as client:
        token = token_of(client)
        crashed, vanished, stopped, kept, deleted = (
            deployed(client, repo, name) for name in
            ("crashed", "vanished", "stopped", "kept", "deleted"))
        assert client.post(f"/api/containers/{stopped['id']}/stop").status_code == 200
        assert client.delete(f"/api/projects/{deleted['id']}").status_code == 200
    replica = {p["name"]: fake.replicas(p["id"])[0] for p in (crashed, vanished, stopped, kept)}
    user, image = kept["userId"], replica["kept"].image

    # While hostd is stopped:
    fake.crash(replica["crashed"].id, exit_code=1)
    fake.vanish(replica["vanished"].id)
    fake.start(replica["stopped"].id)  # someone started it by hand
    own = stray(fake, kept["id"], user, image, "left-by-a-switch")
    of_deleted = stray(fake, deleted["id"], user, image, "of-a-deleted-project")
    foreign = stray(fake, "p-of-another-install", "u-other", image, "another-install")
    fake.add_image(f"hostd-app/{deleted['id']}:left", {PROJECT_LABEL: deleted["id"]})
    fake.add_image("hostd-app/p-of-another-install:v1", {PROJECT_LABEL: "p-of-another-install"})
    run = fake.run_once(ProcessSpec(
        project_id=kept["id"], user_id=user, image=image, name="a-run", env={},
        labels={USER_LABEL: user, RUN_OF_LABEL: kept["id"]}, process="run",
        command=["sleep", "600"])).id

    with fake_daemon(data, fake, HOSTD_INSTANCE=INSTANCE) as second, \
            second.client(token) as client:
        until_true(lambda: all(fake.inspect(r) is None for r in (own, of_deleted, run)),
                   "the strays of this install and the one-off run removed")
        until_true(lambda: fake.inspect(replica["crashed"].id).running,
                   "the replica that exited started again (the same one)")
        until_true(lambda: [r.running for r in fake.replicas(vanished["id"])] == [True],
                   "the vanished project's replica recreated")
        until_true(lambda: not fake.inspect(replica["stopped"].id).running,
                   "the replica its owner stopped stopped again")
        status = {p["name"]: until(client, p["id"], lambda p: p["status"] in
                                   ("running", "stopped") and p["status_reason"] is None)
                  for p in (crashed, vanished, stopped, kept)}
        assert {name: p["status"] for name, p in status.items()} == {
            "crashed": "running", "vanished": "running", "stopped": "stopped",
            "kept": "running"}
        assert status["crashed"]["restarts"] == 0, "hostd was away: no crash counted"
        assert fake.replicas(vanished["id"])[0].id != replica["vanished"].id
        assert fake.inspect(replica["kept"].id).running
        assert fake.inspect(foreign).running, "another install's replica is left alone"
        until_true(lambda: deleted["id"] not in fake.data_owners(),
                   "the deleted project's /data removed, once its stray was")
        assert not fake.image_exists(f"hostd-app/{deleted['id']}:left")
        assert fake.image_exists("hostd-app/p-of-another-install:v1")
        assert "p-of-another-install" in fake.data_owners()
        assert client.get(f"/api/projects/{deleted['id']}").status_code == 404


def cut_off(daemon: FakeDaemon, project_id: str) -> None:
    """A stopped in-process daemon's deploy threads live on (a daemon's process would have
    ended): from now on they can no longer write, and the one under way is stopped, so the
    next start finds the database as a killed daemon leaves it."""
    def ended(*_: Any) -> None:
        raise RuntimeError("this daemon's process has ended")
    daemon.services.db.dispose()
    event.listen(daemon.services.db, "engine_connect", ended)
    daemon.services.deployer.cancel(project_id, "the daemon's process ended")


@pytest.mark.parametrize("serving", [False, True], ids=["first deploy", "redeploy"])
def test_a_deploy_cut_short_by_the_stop_ends_interrupted(tmp_path, repo, serving):
    fake, data = FakeRuntime(), tmp_path / "data"
    with fake_daemon(data, fake, HOSTD_INSTANCE=INSTANCE) as first, \
            first.logged_in() as client:
        token = token_of(client)
        if serving:
            project = deployed(client, repo)
            (old,) = fake.replicas(project["id"])
            fake.slow_next_build(5)
            assert client.post(f"/api/projects/{project['id']}/deploy").status_code == 202
        else:
            fake.slow_next_build(5)
            made = client.post("/api/projects", json={"name": "site", "template": "static",
                                                      "github_url": repo({"index.html": "x"})})
            assert made.status_code == 201, made.text
            project = made.json()["project"]
        until(client, project["id"], lambda p: p["deploy_step"] == "build")
    cut_off(first, project["id"])
    until_true(lambda: not first.services.deployer.is_deploying(project["id"]),
               "the old daemon's deploy thread ended")

    with fake_daemon(data, fake, HOSTD_INSTANCE=INSTANCE) as second, \
            second.client(token) as client:
        after = client.get(f"/api/projects/{project['id']}").json()["project"]
        assert after["last_deploy"] == {"status": "interrupted", "reason": INTERRUPTED}
        assert after["deploy_step"] is None and not after["deploying"]
        deploys = client.get(f"/api/projects/{project['id']}/deployments").json()
        assert (deploys["deployments"][0]["status"], deploys["deployments"][0]["reason"]) == (
            "interrupted", INTERRUPTED)
        if serving:
            assert after["status"] == "running"
            assert after["status_reason"] == f"the last deploy was {INTERRUPTED}"
            assert [r.id for r in fake.replicas(project["id"]) if r.running] == [old.id]
        else:
            assert (after["status"], after["status_reason"]) == ("error", INTERRUPTED)
            assert fake.replicas(project["id"]) == []

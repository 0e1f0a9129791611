"""Release phases that really sleep on the engine hold no worker another user needs.

The deployer's fair queue and pools (users take turns, a full queue answers 429, a deleted
project's queued deploys never run, a redeploy supersedes the deploy under way, a release
phase past the release slots waits its turn) are branch tests on FakeRuntime:
tests/control/test_fair_deploys.py. What only the engine shows stays here: two release
containers that sleep, each waited on by a long `wait_exit` over the adapter's one Docker
client, while another user's deploy clones, builds, starts, is health-checked and goes
live through that same client; and a delete that removes a sleeping release container
(its wait returning, its logs gone) and leaves nothing of the project on the engine."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import docker
import pytest

from tests.deploy.conftest import create, wait_status
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, logged_in

pytestmark = pytest.mark.docker
WAIT_S = 120.0


def quick_site() -> dict[str, str]:
    """About a second of build; the marker keeps the engine's build cache out of it."""
    return {"Dockerfile": "FROM hostd/busybox:1\n"
            f"RUN mkdir -p /www && echo {uuid.uuid4().hex} > /www/index.html\n"
            'CMD ["sh", "-c", "exec httpd -f -p $PORT -h /www"]\n'}


def sleeper() -> dict[str, str]:
    """Its release phase sleeps for HOSTD_RUN_TIMEOUT (600 s)."""
    return {**quick_site(), "Procfile": "release: sleep 600\n"}


@pytest.fixture(scope="module")
def default_workers(engine: docker.DockerClient, base_images: None,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    with own_daemon(engine, tmp_path_factory.mktemp("sleepers-data")) as server:
        yield server


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def release_containers(engine: docker.DockerClient, project_id: str) -> list:
    return engine.containers.list(all=True, sparse=True,
                                  filters={"label": f"hostd.run-of={project_id}"})


def sleeping(engine: docker.DockerClient, project_id: str) -> bool:
    return [c.status for c in release_containers(engine, project_id)] == ["running"]


def left_on_engine(engine: docker.DockerClient, project_id: str) -> list[str]:
    """The project's containers (app and release) and images still on the engine."""
    made = [c.id for c in engine.containers.list(
        all=True, sparse=True, filters={"label": f"hostd.project={project_id}"})]
    return made + [c.id for c in release_containers(engine, project_id)] + \
        [i.id for i in engine.images.list(filters={"label": f"hostd.project={project_id}"})]


def test_release_phases_that_sleep_stall_no_other_users_deploy(default_workers, repo, engine):
    with logged_in(default_workers) as one, logged_in(default_workers) as two, \
            logged_in(default_workers) as newcomer:
        sleepers = {client: create(client, "sleeper", repo(sleeper()), "static")
                    for client in (one, two)}
        for project in sleepers.values():
            wait_until(lambda p=project: sleeping(engine, p["id"]), "a release phase sleeps")

        # Goes live while both still sleep (before: it waited behind the sleepers).
        mine = create(newcomer, "mine", repo(quick_site()), "static")
        done = wait_status(newcomer, mine["id"], {"running", "error"})
        assert done["status"] == "running", done["status_reason"]
        for client, project in sleepers.items():
            assert sleeping(engine, project["id"]), "a sleeper stopped sleeping"
            assert client.get(f"/api/projects/{project['id']}").json()["project"][
                "status"] == "deploying"

        for client, project in sleepers.items():
            assert client.delete(f"/api/projects/{project['id']}").status_code == 200
            assert release_containers(engine, project["id"]) == []
        for project in sleepers.values():
            wait_until(lambda p=project: left_on_engine(engine, p["id"]) == [],
                       "the deleted sleeper's images and containers are gone", timeout=30)
    logs = default_workers.logs()
    assert "crashed" not in logs and "Traceback" not in logs

"""Fair deploys on the real engine: users take turns, a full queue answers 429 and stores
nothing, a deleted project's queued deploys never run, a redeploy supersedes the deploy
under way, and release phases that sleep hold no worker another user needs. One daemon
of the module's own (one deploy and one build worker, two waiting deploys a user), and
one with the default workers for the sleepers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import docker
import httpx
import pytest

from tests.deploy.conftest import create, wait_status
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, logged_in

pytestmark = pytest.mark.docker
NOWHERE = "file:///nonexistent/repo.git"  # its deploy fails at the clone, in milliseconds
WAIT_S = 120.0
STARTS_WITHIN_S = 30.0  # the fairness bound: a newcomer's deploy starts by then


def quick_site() -> dict[str, str]:
    """About a second of build; the marker keeps the engine's build cache out of it."""
    return {"Dockerfile": "FROM hostd/busybox:1\n"
            f"RUN sleep 1 && mkdir -p /www && echo {uuid.uuid4().hex} > /www/index.html\n"
            'CMD ["sh", "-c", "exec httpd -f -p $PORT -h /www"]\n'}


def slow_to_answer() -> dict[str, str]:
    """Serves only after 4 s: its deploy sits in the health check meanwhile."""
    return {"Dockerfile": "FROM hostd/busybox:1\n"
            f"RUN mkdir -p /www && echo {uuid.uuid4().hex} > /www/index.html\n"
            'CMD ["sh", "-c", "sleep 4; exec httpd -f -p $PORT -h /www"]\n'}


def sleeper() -> dict[str, str]:
    """Builds in a second, then its release phase sleeps for HOSTD_RUN_TIMEOUT (600 s)."""
    return {**quick_site(), "Procfile": "release: sleep 600\n"}


@pytest.fixture(scope="module")
def default_workers(engine: docker.DockerClient, base_images: None,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    """The default deploy workers; two release phases at once (so a third waits)."""
    with own_daemon(engine, tmp_path_factory.mktemp("sleepers-data"),
                    HOSTD_RELEASE_CONCURRENCY="2") as server:
        yield server


@pytest.fixture(scope="module")
def daemon(engine: docker.DockerClient, base_images: None,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    with own_daemon(engine, tmp_path_factory.mktemp("fair-data"),
                    HOSTD_DEPLOY_CONCURRENCY="1", HOSTD_BUILD_CONCURRENCY="1",
                    HOSTD_MAX_QUEUED_DEPLOYS="2") as server:
        yield server


def deployments(client: httpx.Client, project_id: str) -> list[dict]:
    """Newest first."""
    resp = client.get(f"/api/projects/{project_id}/deployments")
    assert resp.status_code == 200, resp.text
    return resp.json()["deployments"]


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def wait_started(client: httpx.Client, project_id: str) -> None:
    """Until the project's newest deploy has left the queue."""
    wait_until(lambda: deployments(client, project_id)[0]["step"] != "queued",
               f"the deploy of {project_id} started")


def post_project(client: httpx.Client, name: str, url: str) -> httpx.Response:
    return client.post("/api/projects", json={"name": name, "github_url": url,
                                              "template": "static"})


def assert_rate_limited(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    body = resp.json()
    assert body["error"] == "RateLimited" and body["statusCode"] == 429
    assert "waiting" in body["message"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 300


def test_deploys_alternate_between_users(daemon, repo):
    with logged_in(daemon) as alice, logged_in(daemon) as bob:
        made = {"a1": create(alice, "a1", repo(quick_site()), "static")}
        wait_started(alice, made["a1"]["id"])
        for name in ("a2", "a3"):
            made[name] = create(alice, name, repo(quick_site()), "static")
        for name in ("b1", "b2"):
            made[name] = create(bob, name, repo(quick_site()), "static")
        wait_started(bob, made["b1"]["id"])
        made["b3"] = create(bob, "b3", repo(quick_site()), "static")

        finished = {}
        for name, project in made.items():
            client = alice if name.startswith("a") else bob
            done = wait_status(client, project["id"], {"running", "error"})
            assert done["status"] == "running", (name, done["status_reason"])
            finished[name] = deployments(client, project["id"])[0]["finished_at"]
    # One worker of each pool: users take turns, each in their own order. Builds and the
    # deploy workers' steps overlap, so within a round either may finish first.
    order = sorted(finished, key=finished.__getitem__)
    assert [sorted(order[n:n + 2]) for n in (0, 2, 4)] == \
        [["a1", "b1"], ["a2", "b2"], ["a3", "b3"]], order


def test_a_full_queue_answers_429_and_stores_nothing(daemon, repo):
    with logged_in(daemon) as carol:
        # Slow to answer: it stays the running deploy while the requests below are made.
        first = create(carol, "c1", repo(slow_to_answer()), "static")
        wait_started(carol, first["id"])
        # Six at once for two waiting slots: exactly two get through.
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda n: post_project(carol, f"c{n}", NOWHERE),
                                    range(2, 8)))
        assert sorted(r.status_code for r in answers) == [201, 201, 429, 429, 429, 429]
        for resp in answers:
            if resp.status_code == 429:
                assert_rate_limited(resp)

        assert_rate_limited(post_project(carol, "c9", NOWHERE))
        listed = carol.get("/api/projects").json()["projects"]
        assert len(listed) == 3 and "c9" not in {p["name"] for p in listed}
        # A redeploy is refused the same way, and leaves the running deploy alone.
        assert_rate_limited(carol.post(f"/api/projects/{first['id']}/deploy"))
        for project in listed:
            wait_status(carol, project["id"], {"running", "error"})
        assert wait_status(carol, first["id"], {"running", "error"})["status"] == "running"
        assert [r["status"] for r in deployments(carol, first["id"])] == ["succeeded"]


def test_deleting_a_project_drops_its_queued_deploys(daemon, repo, engine):
    with logged_in(daemon) as dan:
        first = create(dan, "d1", repo(slow_to_answer()), "static")
        wait_started(dan, first["id"])
        doomed = [create(dan, name, repo(quick_site()), "static") for name in ("d2", "d3")]
        assert_rate_limited(post_project(dan, "d4", NOWHERE))
        doomed_runs = [deployments(dan, p["id"])[0]["id"] for p in doomed]
        for project in doomed:
            assert dan.delete(f"/api/projects/{project['id']}").status_code == 200
        # Their slots are free again at once, while d1 still deploys.
        last = create(dan, "d4", repo(quick_site()), "static")
        assert deployments(dan, first["id"])[0]["status"] == "running"
        for project in (first, last):
            done = wait_status(dan, project["id"], {"running", "error"})
            assert done["status"] == "running", done["status_reason"]
        assert deployments(dan, last["id"])[0]["finished_at"] > \
            deployments(dan, first["id"])[0]["finished_at"]
    for project in doomed:
        label = {"label": f"hostd.project={project['id']}"}
        assert engine.containers.list(all=True, filters=label) == []
        assert engine.images.list(filters=label) == []
        assert not (daemon.data_dir / "builds" / project["id"]).exists()
    logs = daemon.logs()
    assert "crashed" not in logs and "Traceback" not in logs
    assert not any(run_id in logs for run_id in doomed_runs), "a doomed deploy was picked up"


def test_redeploy_while_deploying_supersedes_the_deploy_under_way(daemon, repo, engine):
    with logged_in(daemon) as sam:
        project = create(sam, "s1", repo(slow_to_answer()), "static")
        pid = project["id"]
        wait_until(lambda: sam.get(f"/api/projects/{pid}").json()["project"]["status_reason"]
                   == "waiting for the app to answer", "the first deploy's health check")
        (half_made,) = engine.containers.list(all=True, filters={"label": f"hostd.project={pid}"})
        for action in ("start", "stop", "restart"):  # these still wait for the deploy
            assert sam.post(f"/api/containers/{pid}/{action}").status_code == 409
        for _ in range(2):  # the second supersedes the first redeploy, still queued
            resp = sam.post(f"/api/projects/{pid}/deploy")
            assert resp.status_code == 202, resp.text
            assert resp.json()["project"]["status"] == "deploying"

        seen = set()

        def over() -> bool:
            seen.add(sam.get(f"/api/projects/{pid}").json()["project"]["status"])
            return seen & {"running", "error"} != set()

        wait_until(over, "the last deploy ended")
        assert seen <= {"deploying", "running"}, "a superseded deploy touched the status"
        runs = deployments(sam, pid)
        assert [r["status"] for r in runs] == ["succeeded", "failed", "failed"]
        assert {r["reason"] for r in runs[1:]} == {"superseded by a new deploy"}
        assert all(r["finished_at"] for r in runs)
        containers = engine.containers.list(all=True, filters={"label": f"hostd.project={pid}"})
        assert [c.id for c in containers] != [half_made.id] and len(containers) == 1
        assert len(engine.images.list(filters={"label": f"hostd.project={pid}"})) == 1


def release_containers(engine: docker.DockerClient, project_id: str) -> list:
    return engine.containers.list(all=True, sparse=True,
                                  filters={"label": f"hostd.run-of={project_id}"})


def sleeping(engine: docker.DockerClient, project_id: str) -> bool:
    return [c.status for c in release_containers(engine, project_id)] == ["running"]


def reason(client: httpx.Client, project_id: str) -> str | None:
    return client.get(f"/api/projects/{project_id}").json()["project"]["status_reason"]


def test_release_phases_that_sleep_stall_no_other_users_deploy(default_workers, repo, engine):
    with logged_in(default_workers) as one, logged_in(default_workers) as two, \
            logged_in(default_workers) as three, logged_in(default_workers) as newcomer:
        sleepers = {client: create(client, "sleeper", repo(sleeper()), "static")
                    for client in (one, two)}
        for project in sleepers.values():
            wait_until(lambda p=project: sleeping(engine, p["id"]), "a release phase sleeps")

        mine = create(newcomer, "mine", repo(quick_site()), "static")
        wait_until(lambda: deployments(newcomer, mine["id"])[0]["step"]
                   not in ("queued", "clone"),
                   "the newcomer's deploy reached its build", timeout=STARTS_WITHIN_S)
        done = wait_status(newcomer, mine["id"], {"running", "error"})
        assert done["status"] == "running", done["status_reason"]
        for client, project in sleepers.items():
            assert sleeping(engine, project["id"]), "a sleeper stopped sleeping"
            assert client.get(f"/api/projects/{project['id']}").json()["project"][
                "status"] == "deploying"

        # Past the release slots (two), a third sleeper's release phase waits its turn:
        # only release phases wait, and it runs once a slot frees.
        third = create(three, "sleeper", repo(sleeper()), "static")
        wait_until(lambda: reason(three, third["id"]) == "waiting for a release slot",
                   "the third sleeper waits for a release slot")
        assert deployments(three, third["id"])[0]["step"] == "release"
        assert release_containers(engine, third["id"]) == []
        # Waiting between two pools, no worker has it: a redeploy ends it at once.
        assert three.post(f"/api/projects/{third['id']}/deploy").status_code == 202
        superseded = deployments(three, third["id"])[1]
        assert (superseded["status"], superseded["reason"]) == \
            ("failed", "superseded by a new deploy") and superseded["finished_at"]
        wait_until(lambda: reason(three, third["id"]) == "waiting for a release slot",
                   "the third sleeper's new deploy waits for a release slot")
        first = sleepers[one]
        assert one.delete(f"/api/projects/{first['id']}").status_code == 200
        assert release_containers(engine, first["id"]) == []
        wait_until(lambda: sleeping(engine, third["id"]), "the third sleeper's release runs")

        for client, project in ((two, sleepers[two]), (three, third)):
            assert client.delete(f"/api/projects/{project['id']}").status_code == 200
            assert release_containers(engine, project["id"]) == []
        for project in (first, sleepers[two], third):
            wait_until(lambda p=project: left_on_engine(engine, p["id"]) == [],
                       "the deleted sleeper's images and containers are gone", timeout=30)
    logs = default_workers.logs()
    assert "crashed" not in logs and "Traceback" not in logs


def left_on_engine(engine: docker.DockerClient, project_id: str) -> list[str]:
    """The project's containers (app and release) and images still on the engine."""
    made = [c.id for c in engine.containers.list(
        all=True, sparse=True, filters={"label": f"hostd.project={project_id}"})]
    return made + [c.id for c in release_containers(engine, project_id)] + \
        [i.id for i in engine.images.list(filters={"label": f"hostd.project={project_id}"})]

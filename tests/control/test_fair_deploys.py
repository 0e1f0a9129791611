"""Fair deploys on FakeRuntime: users take turns, a full queue answers 429 and stores
nothing, a deleted project's queued deploys never run, a redeploy supersedes the deploy
under way, and release phases that sleep hold no worker another user needs.

The daemon has one deploy and one build worker and two waiting deploys a user (as the
real-engine test had); the sleepers' has the default workers and two release slots. A
deploy is held where the test wants it by a build of controlled length or by a release
command that runs until the test ends it (`fake.finish`), never by a sleep of the test's.
The release phase on the real engine: tests/deploy/test_fair_deploys.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.control.conftest import SITE, WAIT_S, deploy_over
from tests.control.test_oneoff import runs_of, until_started
from tests.fakes.daemon import FakeDaemon, fake_daemon

NOWHERE = "file:///nonexistent/repo.git"  # its deploy fails at the clone, in milliseconds
# Its release phase runs (unscripted on the fake) until the test finishes or removes it.
RELEASING = {**SITE, "Procfile": "release: ./migrate\n"}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    with fake_daemon(tmp_path / "data", HOSTD_DEPLOY_CONCURRENCY=1, HOSTD_BUILD_CONCURRENCY=1,
                     HOSTD_MAX_QUEUED_DEPLOYS=2) as running:
        yield running


def post_project(client: httpx.Client, name: str, url: str) -> httpx.Response:
    return client.post("/api/projects", json={"name": name, "github_url": url,
                                              "template": "static"})


def create(client: httpx.Client, name: str, url: str) -> dict[str, Any]:
    resp = post_project(client, name, url)
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["project"])


def deployments(client: httpx.Client, project_id: str) -> list[dict[str, Any]]:
    """Newest first."""
    resp = client.get(f"/api/projects/{project_id}/deployments")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["deployments"])


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def wait_started(client: httpx.Client, project_id: str) -> None:
    """Until the project's newest deploy has left the queue."""
    wait_for(lambda: deployments(client, project_id)[0]["step"] != "queued",
             f"the deploy of {project_id} started")


def reason(client: httpx.Client, project_id: str) -> str | None:
    return client.get(f"/api/projects/{project_id}").json()["project"]["status_reason"]


def assert_rate_limited(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    body = resp.json()
    assert body["error"] == "RateLimited" and body["statusCode"] == 429
    assert "waiting" in body["message"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 300


def assert_no_crash(caplog: pytest.LogCaptureFixture) -> None:
    crashed = [r.getMessage() for r in caplog.records
               if r.name == "hostd.deploy" and r.levelno >= logging.ERROR]
    assert crashed == []


def test_deploys_alternate_between_users(daemon, repo):
    urls = {name: repo(SITE) for name in ("a1", "a2", "a3", "b1", "b2", "b3")}
    # a1's build holds the one build worker while the others queue behind it.
    daemon.fake.slow_next_build(3.0)
    with daemon.logged_in() as alice, daemon.logged_in() as bob:
        made = {"a1": create(alice, "a1", urls["a1"])}
        wait_started(alice, made["a1"]["id"])
        for name in ("a2", "a3"):
            made[name] = create(alice, name, urls[name])
        for name in ("b1", "b2"):
            made[name] = create(bob, name, urls[name])
        wait_started(bob, made["b1"]["id"])
        made["b3"] = create(bob, "b3", urls["b3"])
        holding = deployments(alice, made["a1"]["id"])[0]
        assert (holding["step"], holding["status"]) == ("build", "running"), \
            "everything was queued while a1 built"

        finished = {}
        for name, project in made.items():
            client = alice if name.startswith("a") else bob
            done = deploy_over(client, project["id"])
            assert done["status"] == "running", (name, done["status_reason"])
            finished[name] = deployments(client, project["id"])[0]["finished_at"]
    # One worker of each pool: users take turns, each in their own order. Builds and the
    # deploy workers' steps overlap, so within a round either may finish first.
    order = sorted(finished, key=finished.__getitem__)
    assert [sorted(order[n:n + 2]) for n in (0, 2, 4)] == \
        [["a1", "b1"], ["a2", "b2"], ["a3", "b3"]], order


def test_a_full_queue_answers_429_and_stores_nothing(daemon, repo):
    with daemon.logged_in() as carol:
        # Its release phase runs until finished: it stays the running deploy meanwhile.
        first = create(carol, "c1", repo(RELEASING))
        (release,) = until_started(daemon.fake, first["id"])
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
        daemon.fake.finish(release.id, 0)
        for project in listed:
            deploy_over(carol, project["id"])
        assert deploy_over(carol, first["id"])["status"] == "running"
        assert [r["status"] for r in deployments(carol, first["id"])] == ["succeeded"]


def test_deleting_a_project_drops_its_queued_deploys(daemon, repo, caplog):
    fake = daemon.fake
    with daemon.logged_in() as dan:
        first = create(dan, "d1", repo(RELEASING))
        (release,) = until_started(fake, first["id"])
        doomed = [create(dan, name, repo(SITE)) for name in ("d2", "d3")]
        assert_rate_limited(post_project(dan, "d4", NOWHERE))
        doomed_runs = [deployments(dan, p["id"])[0]["id"] for p in doomed]
        for project in doomed:
            assert dan.delete(f"/api/projects/{project['id']}").status_code == 200
        # Their slots are free again at once, while d1 still deploys.
        last = create(dan, "d4", repo(SITE))
        assert deployments(dan, first["id"])[0]["status"] == "running"
        fake.finish(release.id, 0)
        for project in (first, last):
            done = deploy_over(dan, project["id"])
            assert done["status"] == "running", done["status_reason"]
        assert deployments(dan, last["id"])[0]["finished_at"] > \
            deployments(dan, first["id"])[0]["finished_at"]
    asked = repr(fake.calls)
    assert not any(run_id in asked for run_id in doomed_runs), "a doomed deploy was picked up"
    for project in doomed:
        assert fake.replicas(project["id"]) == [] and fake.project_images(project["id"]) == []
        assert not (daemon.data_dir / "builds" / project["id"]).exists()
    assert_no_crash(caplog)


def test_redeploy_while_deploying_supersedes_the_deploy_under_way(daemon, repo):
    fake = daemon.fake
    fake.slow_next_build(1.0)  # time to aim the fault at the first deploy's image
    with daemon.logged_in() as sam:
        pid = create(sam, "s1", repo(SITE))["id"]
        wait_for(lambda: len(fake.calls_of("build")) == 1, "the first deploy builds")
        ((request, *_),) = fake.calls_of("build")
        fake.never_serves(request.tag)  # type: ignore[attr-defined]
        wait_for(lambda: reason(sam, pid) == "waiting for the app to answer",
                 "the first deploy's health check")
        (half_made,) = fake.replicas(pid)
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

        wait_for(over, "the last deploy ended")
        assert seen <= {"deploying", "running"}, "a superseded deploy touched the status"
        runs = deployments(sam, pid)
        assert [r["status"] for r in runs] == ["succeeded", "failed", "failed"]
        assert {r["reason"] for r in runs[1:]} == {"superseded by a new deploy"}
        assert all(r["finished_at"] for r in runs)
        (serving,) = fake.replicas(pid)
        assert serving.id != half_made.id and fake.inspect(half_made.id) is None
        assert fake.project_images(pid) == [runs[0]["image"]]


def test_release_phases_that_sleep_stall_no_other_users_deploy(tmp_path, repo):
    """The default workers and two release slots (so a third release phase waits)."""
    with fake_daemon(tmp_path / "data", HOSTD_RELEASE_CONCURRENCY=2) as daemon, \
            daemon.logged_in() as one, daemon.logged_in() as two, \
            daemon.logged_in() as three, daemon.logged_in() as newcomer:
        fake = daemon.fake
        sleepers = {client: create(client, "sleeper", repo(RELEASING)) for client in (one, two)}
        for project in sleepers.values():
            until_started(fake, project["id"])

        # The newcomer's deploy goes live while both release phases still run.
        mine = create(newcomer, "mine", repo(SITE))
        done = deploy_over(newcomer, mine["id"])
        assert done["status"] == "running", done["status_reason"]
        for client, project in sleepers.items():
            assert [r.running for r in runs_of(fake, project["id"])] == [True]
            assert client.get(f"/api/projects/{project['id']}").json()["project"][
                "status"] == "deploying"

        # Past the release slots (two), a third sleeper's release phase waits its turn:
        # only release phases wait, and it runs once a slot frees.
        third = create(three, "sleeper", repo(RELEASING))
        wait_for(lambda: reason(three, third["id"]) == "waiting for a release slot",
                 "the third sleeper waits for a release slot")
        assert deployments(three, third["id"])[0]["step"] == "release"
        assert runs_of(fake, third["id"]) == []
        # Waiting between two pools, no worker has it: a redeploy ends it at once.
        assert three.post(f"/api/projects/{third['id']}/deploy").status_code == 202
        superseded = deployments(three, third["id"])[1]
        assert (superseded["status"], superseded["reason"]) == \
            ("failed", "superseded by a new deploy") and superseded["finished_at"]
        wait_for(lambda: reason(three, third["id"]) == "waiting for a release slot",
                 "the third sleeper's new deploy waits for a release slot")
        first = sleepers[one]
        assert one.delete(f"/api/projects/{first['id']}").status_code == 200
        assert runs_of(fake, first["id"]) == []
        until_started(fake, third["id"])

        for client, project in ((two, sleepers[two]), (three, third)):
            assert client.delete(f"/api/projects/{project['id']}").status_code == 200
            assert runs_of(fake, project["id"]) == []
        for project in (first, sleepers[two], third):
            wait_for(lambda p=project: fake.replicas(p["id"]) == [] and
                     fake.project_images(p["id"]) == [],
                     "the deleted sleeper's images and replicas are gone")

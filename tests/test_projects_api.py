"""Project records over the API: create, list, get, delete, validation, tenant isolation."""

from __future__ import annotations

import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from tests.support import client_for, register, stable
from tests.test_auth_api import assert_error

REPO = "https://github.com/octo/hello.git"
PROJECT_KEYS = {"id", "userId", "name", "status", "url", "template", "github_url", "created_at",
                "metrics"}


def new_name() -> str:
    return f"app-{uuid.uuid4().hex[:8]}"


def create(client, headers, **fields) -> dict:
    body = {"name": new_name(), "github_url": REPO, "template": "static", **fields}
    resp = client.post("/api/projects", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()["project"]


def test_create_returns_the_project_deploying(hostd, client, user):
    name = new_name()
    resp = client.post("/api/projects", headers=user["headers"],
                       json={"name": name, "github_url": REPO, "template": "flask"})
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == {"project"}
    project = body["project"]
    assert set(project) >= PROJECT_KEYS
    assert project["name"] == name
    assert project["userId"] == user["user"]["id"]
    assert project["status"] == "deploying"
    assert project["template"] == "flask"
    assert project["github_url"] == REPO
    assert project["metrics"] == {"cpu": 0.0, "memory": 0.0, "requests": 0}
    handle = user["user"]["handle"]
    assert project["url"] == f"http://{name}.{handle}.localhost:{hostd.router_port}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", project["created_at"])
    created = datetime.fromisoformat(project["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60


def test_list_get_delete(client, user):
    assert client.get("/api/projects", headers=user["headers"]).json() == {"projects": []}
    first = create(client, user["headers"])
    second = create(client, user["headers"], template="nodejs")
    listed = client.get("/api/projects", headers=user["headers"])
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["projects"]] == [first["id"], second["id"]]

    resp = client.get(f"/api/projects/{first['id']}", headers=user["headers"])
    assert resp.status_code == 200
    assert stable(resp.json()["project"]) == stable(first)

    settled(client, user["headers"], first["id"])
    resp = client.delete(f"/api/projects/{first['id']}", headers=user["headers"])
    assert resp.status_code == 200
    assert set(resp.json()) == {"message"}
    assert_error(client.get(f"/api/projects/{first['id']}", headers=user["headers"]),
                 404, "NotFound")
    assert_error(client.delete(f"/api/projects/{first['id']}", headers=user["headers"]),
                 404, "NotFound")
    listed = client.get("/api/projects", headers=user["headers"]).json()["projects"]
    assert [p["id"] for p in listed] == [second["id"]]


def settled(client, headers, project_id: str, timeout: float = 30.0) -> None:
    """Until the first deploy has ended (REPO never resolves here: it fails at the clone).
    Deleting a project while it deploys asks the engine to stop the deploy: without an
    engine that is a 503, so a test that must run without one deletes only after this."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        project = client.get(f"/api/projects/{project_id}", headers=headers).json()["project"]
        if project["status"] != "deploying":
            return
        time.sleep(0.05)
    raise AssertionError(f"project {project_id} still deploying after {timeout:.0f}s")


def test_a_deleted_name_can_be_used_again(client, user):
    project = create(client, user["headers"])
    settled(client, user["headers"], project["id"])
    resp = client.delete(f"/api/projects/{project['id']}", headers=user["headers"])
    assert resp.status_code == 200, resp.text
    assert create(client, user["headers"], name=project["name"])["id"] != project["id"]


def test_same_name_twice_is_a_conflict_for_one_user_only(client, user, other_user):
    name = new_name()
    create(client, user["headers"], name=name)
    resp = client.post("/api/projects", headers=user["headers"],
                       json={"name": name, "github_url": REPO, "template": "static"})
    assert_error(resp, 409, "ConflictError")
    create(client, other_user["headers"], name=name)  # another user's namespace


def test_concurrent_creates_of_one_name_make_one_project(make_hostd):
    # Room in the deploy queue and the memory quota for every racer: a full queue (429)
    # or quota (403) is not this test's subject.
    name, racers = new_name(), 20
    server = make_hostd(HOSTD_MAX_QUEUED_DEPLOYS=str(racers),
                        HOSTD_MAX_MEMORY_MB_PER_USER=str(racers * 1024))
    barrier = threading.Barrier(racers)
    with client_for(server) as c:
        token, _ = register(c)
    headers = {"Authorization": f"Bearer {token}"}

    def attempt(_: int) -> httpx.Response:
        with client_for(server) as c:
            barrier.wait(timeout=10)
            return c.post("/api/projects", headers=headers,
                          json={"name": name, "github_url": REPO, "template": "static"})

    with ThreadPoolExecutor(racers) as pool:
        answers = list(pool.map(attempt, range(racers)))
    assert sorted(r.status_code for r in answers) == [201] + [409] * (racers - 1)
    for lost in (r for r in answers if r.status_code != 201):
        assert_error(lost, 409, "ConflictError")
    with client_for(server) as c:
        listed = c.get("/api/projects", headers=headers).json()["projects"]
    assert [p["name"] for p in listed] == [name]


@pytest.mark.parametrize("template", ["static", "react", "flask", "nodejs"])
def test_every_template(client, user, template):
    assert create(client, user["headers"], template=template)["template"] == template


@pytest.mark.parametrize(("field", "value"), [
    ("name", ""), ("name", "-app"), ("name", "app-"), ("name", "My-App"), ("name", "my_app"),
    ("name", "my.app"), ("name", "a" * 41), ("name", "app\n"),
    ("template", "django"), ("template", "STATIC"), ("template", ""),
    ("github_url", ""), ("github_url", "github.com/a/b"), ("github_url", "ftp://x.org/a"),
    ("github_url", "--upload-pack=touch /tmp/x"), ("github_url", "https://github.com"),
    ("github_url", "https://x.org/a b"), ("github_url", "https://x.org/" + "a" * 2048),
    ("github_url", "./relative/repo"), ("github_url", "http://git.example.com/a/b.git"),
])
def test_create_validates_each_field(client, user, field, value):
    body = {"name": new_name(), "github_url": REPO, "template": "static", field: value}
    resp = client.post("/api/projects", json=body, headers=user["headers"])
    assert field in assert_error(resp, 400, "ValidationError")["message"]


@pytest.mark.parametrize("missing", ["name", "github_url", "template"])
def test_create_requires_every_field(client, user, missing):
    body = {"name": new_name(), "github_url": REPO, "template": "static"}
    del body[missing]
    resp = client.post("/api/projects", json=body, headers=user["headers"])
    assert missing in assert_error(resp, 400, "ValidationError")["message"]


@pytest.mark.parametrize("field", ["name", "github_url", "template"])
@pytest.mark.parametrize("value", [1, None, False, ["static"], {"x": 1}])
def test_create_refuses_wrong_json_types(client, user, field, value):
    body = {"name": new_name(), "github_url": REPO, "template": "static", field: value}
    resp = client.post("/api/projects", json=body, headers=user["headers"])
    assert field in assert_error(resp, 400, "ValidationError")["message"]


@pytest.mark.parametrize("url", [
    "https://github.com/octo/hello",
    "ssh://git@github.com/octo/hello.git", "git@github.com:octo/hello.git",
])
def test_remote_repo_url_forms(client, user, url):
    assert create(client, user["headers"], github_url=url)["github_url"] == url


def test_local_repos_are_accepted_when_allowed(client, user, tmp_path):
    # The session daemon runs with HOSTD_ALLOW_LOCAL_REPOS=true.
    for url in (f"file://{tmp_path}/repo", str(tmp_path / "repo")):
        assert create(client, user["headers"], github_url=url)["github_url"] == url


def test_local_repos_are_refused_by_default(configured_hostd, tmp_path):
    with client_for(configured_hostd) as c:
        token, _ = register(c)
        headers = {"Authorization": f"Bearer {token}"}
        for url in (f"file://{tmp_path}/repo", str(tmp_path / "repo")):
            resp = c.post("/api/projects", headers=headers,
                          json={"name": new_name(), "github_url": url, "template": "static"})
            err = assert_error(resp, 400, "ValidationError")
            assert "HOSTD_ALLOW_LOCAL_REPOS" in err["message"]
        assert create(c, headers)["github_url"] == REPO


def test_projects_need_a_token(client, user):
    project = create(client, user["headers"])
    for method, path in [("GET", "/api/projects"), ("POST", "/api/projects"),
                         ("GET", f"/api/projects/{project['id']}"),
                         ("DELETE", f"/api/projects/{project['id']}")]:
        assert_error(client.request(method, path), 401, "Unauthorized")


def test_unknown_project_id_is_not_found(client, user):
    for path in ("/api/projects/" + uuid.uuid4().hex, "/api/projects/not-an-id",
                 "/api/projects/%20", "/api/projects/' OR 1=1 --"):
        assert_error(client.get(path, headers=user["headers"]), 404, "NotFound")
        assert_error(client.delete(path, headers=user["headers"]), 404, "NotFound")


def test_tenant_isolation(client, user, other_user):
    mine = create(client, user["headers"])
    path = f"/api/projects/{mine['id']}"
    theirs = other_user["headers"]
    assert mine["id"] not in [p["id"] for p in
                              client.get("/api/projects", headers=theirs).json()["projects"]]
    missing = assert_error(client.get(f"/api/projects/{uuid.uuid4().hex}", headers=theirs),
                           404, "NotFound")
    # Someone else's project is indistinguishable from one that does not exist.
    assert assert_error(client.get(path, headers=theirs), 404, "NotFound") == missing
    assert assert_error(client.delete(path, headers=theirs), 404, "NotFound") == missing
    # Every other route under the project answers 404 too.
    others = [("PATCH", f"{path}/status"), ("GET", f"{path}/logs"),
              ("GET", f"/api/containers/{mine['id']}/status")]
    others += [("POST", f"/api/containers/{mine['id']}/{verb}")
               for verb in ("start", "stop", "restart")]
    for method, other in others:
        resp = client.request(method, other, headers=theirs, json={"status": "stopped"})
        assert resp.status_code == 404, resp.text
        assert resp.json()["statusCode"] == resp.status_code
    # And the owner still has it, untouched.
    assert stable(client.get(path, headers=user["headers"]).json()["project"]) == stable(mine)


@pytest.mark.parametrize("path", ["healthz", "/a b", "/\x1b[2J", "/é", "/" + "a" * 200, 7])
def test_a_bad_health_path_is_refused_and_stores_nothing(client, user, path):
    name = new_name()
    resp = client.post("/api/projects", headers=user["headers"], json={
        "name": name, "github_url": REPO, "template": "static", "health_path": path})
    assert_error(resp, 400, "ValidationError")
    listed = client.get("/api/projects", headers=user["headers"]).json()["projects"]
    assert name not in [p["name"] for p in listed]
    project = create(client, user["headers"])
    assert project["health_path"] == "/"
    resp = client.patch(f"/api/projects/{project['id']}", headers=user["headers"],
                        json={"health_path": path})
    assert_error(resp, 400, "ValidationError")
    again = client.get(f"/api/projects/{project['id']}", headers=user["headers"])
    assert again.json()["project"]["health_path"] == "/"

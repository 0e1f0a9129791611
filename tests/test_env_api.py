"""Config vars over the API: set, remove, validation, nothing stored on a refusal, never
in the project list or the log. Containers get them: tests/deploy/test_env.py."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import HostdServer, client_for, register, tls
from tests.test_auth_api import assert_error

SECRET = "s3cr3t-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    server = HostdServer(data_dir=tmp_path_factory.mktemp("env-data"),
                         env_overrides={"HOSTD_ALLOW_LOCAL_REPOS": "true"}).start()
    yield server
    server.stop()


@pytest.fixture
def api(daemon: HostdServer):
    with client_for(daemon) as client:
        token, _ = register(client)
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def settled_project(api: httpx.Client) -> dict:
    """A project whose first deploy is over (a missing repository: `error` at once)."""
    body = {"name": f"env-{uuid.uuid4().hex[:6]}", "github_url": "file:///nonexistent/repo",
            "template": "static"}
    project = api.post("/api/projects", json=body).json()["project"]
    deadline = time.monotonic() + 30
    while project["status"] == "deploying":
        assert time.monotonic() < deadline
        time.sleep(0.05)
        project = api.get(f"/api/projects/{project['id']}").json()["project"]
    return project


def patch(api: httpx.Client, project: dict, env: dict) -> httpx.Response:
    return api.patch(f"/api/projects/{project['id']}/env", json={"env": env})


def env_of(api: httpx.Client, project: dict) -> dict:
    resp = api.get(f"/api/projects/{project['id']}/env")
    assert resp.status_code == 200
    return resp.json()["env"]


def test_set_change_and_remove(api):
    project = settled_project(api)
    assert env_of(api, project) == {}
    resp = patch(api, project, {"ZED": "last", "API_KEY": SECRET, "EMPTY": "", "EQ": "a=b"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["env"] == {"API_KEY": SECRET, "EMPTY": "", "EQ": "a=b", "ZED": "last"}
    assert list(body["env"]) == sorted(body["env"]), "names sorted"
    assert "Set 4 and removed 0" in body["message"] and "next starts" in body["message"]
    body = patch(api, project, {"ZED": None, "EQ": "c", "NOT_THERE": None}).json()
    assert body["env"] == {"API_KEY": SECRET, "EMPTY": "", "EQ": "c"}
    assert "Set 1 and removed 1" in body["message"]
    assert env_of(api, project) == body["env"]
    assert "Nothing changed" in patch(api, project, {"EQ": "c"}).json()["message"]


@pytest.mark.parametrize("env, says", [
    ({"1ABC": "x"}, "not a valid variable name"),
    ({"A-B": "x"}, "not a valid variable name"),
    ({"": "x"}, "not a valid variable name"),
    ({"A" * 129: "x"}, "not a valid variable name"),
    ({"PORT": "9"}, "set by hostd"),
    ({"HOSTD_INSTANCE": "x"}, "set by hostd"),
    ({"BIG": "x" * (32 * 1024 + 1)}, None),
    ({"NUL": "a\x00b"}, "NUL"),
    ({"NUM": 5}, None),
    ({"LIST": ["a"]}, None),
    ({f"V{i}": "x" for i in range(101)}, "at most 100"),
])
def test_refusals_store_nothing(api, env, says):
    project = settled_project(api)
    assert patch(api, project, {"KEEP": "me"}).status_code == 200
    body = assert_error(patch(api, project, {**env, "NEW": "no"}), 400, "ValidationError")
    if says:
        assert says in body["message"]
    assert env_of(api, project) == {"KEEP": "me"}, "a refused change changes nothing"


def test_body_shape_is_checked(api):
    project = settled_project(api)
    for body in ({}, {"env": "A=1"}, {"env": None}, [1]):
        resp = api.patch(f"/api/projects/{project['id']}/env", json=body)
        assert_error(resp, 400, "ValidationError")


def test_another_users_project_is_404_and_unknown_is_404(api, daemon):
    project = settled_project(api)
    assert patch(api, project, {"A": "1"}).status_code == 200
    with client_for(daemon) as other:
        token, _ = register(other)
        headers = {"Authorization": f"Bearer {token}"}
        for method in ("GET", "PATCH"):
            resp = other.request(method, f"/api/projects/{project['id']}/env", headers=headers,
                                 json={"env": {"A": "2"}} if method == "PATCH" else None)
            assert_error(resp, 404, "NotFound")
    assert env_of(api, project) == {"A": "1"}
    assert_error(api.get("/api/projects/nope/env"), 404, "NotFound")


def test_values_stay_out_of_the_list_and_the_log(api, daemon):
    project = settled_project(api)
    assert patch(api, project, {"API_KEY": SECRET}).status_code == 200
    assert SECRET not in api.get("/api/projects").text
    assert SECRET not in api.get(f"/api/projects/{project['id']}").text
    assert SECRET not in daemon.logs()


def test_vars_survive_a_restart_and_go_with_the_project(api, daemon):
    project = settled_project(api)
    assert patch(api, project, {"A": "1"}).status_code == 200
    daemon.restart()
    assert env_of(api, project) == {"A": "1"}
    assert api.delete(f"/api/projects/{project['id']}").status_code == 200
    assert_error(api.get(f"/api/projects/{project['id']}/env"), 404, "NotFound")


def test_a_project_can_be_created_with_its_config_vars(api):
    name = f"env-{uuid.uuid4().hex[:6]}"
    body = {"name": name, "github_url": "file:///nonexistent/repo", "template": "static",
            "env": {"B": "2", "A": SECRET}}
    resp = api.post("/api/projects", json=body)
    assert resp.status_code == 201 and SECRET not in resp.text
    assert env_of(api, resp.json()["project"]) == {"A": SECRET, "B": "2"}


def test_a_create_with_bad_config_vars_creates_nothing(api):
    name = f"env-{uuid.uuid4().hex[:6]}"
    for env in ({"PORT": "1"}, {"1X": "y"}, {"A": 1}):
        body = {"name": name, "github_url": "file:///nonexistent/repo", "template": "static",
                "env": env}
        assert_error(api.post("/api/projects", json=body), 400, "ValidationError")
    assert name not in [p["name"] for p in api.get("/api/projects").json()["projects"]]


def test_concurrent_changes_lose_nothing(api, daemon):
    """Ten owners' tabs set a var each at once: every one of them is kept (each change
    reads and writes the vars under the project's lock)."""
    project = settled_project(api)
    headers = dict(api.headers)

    def set_one(i: int) -> int:
        with httpx.Client(base_url=daemon.url, headers=headers, timeout=30,
                          verify=tls()) as client:
            return client.patch(f"/api/projects/{project['id']}/env",
                                json={"env": {f"V{i}": str(i)}}).status_code

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(set_one, range(10))) == [200] * 10
    assert env_of(api, project) == {f"V{i}": str(i) for i in range(10)}

"""The contract's `/api/projects` routes: a user with a dozen projects, owner scoping,
404s, 409s and 400s, black-box over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.contract.api import (
    TEMPLATES,
    Account,
    assert_error,
    assert_project,
    engine_answer,
)
from tests.contract.conftest import Target

PROJECTS = "/api/projects"
DOZEN = 12


@pytest.fixture
def client(target: Target) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.url, timeout=60.0) as client:
        yield client


@pytest.fixture
def alice(client: httpx.Client, target: Target) -> Account:
    return Account(client, target.repo, name="Alice")


@pytest.fixture
def bob(client: httpx.Client, target: Target) -> Account:
    return Account(client, target.repo, name="Bob")


def test_a_new_user_has_no_projects(alice):
    resp = alice.call("GET", PROJECTS)
    assert resp.status_code == 200
    assert resp.json() == {"projects": []}


def test_a_user_creates_a_dozen_projects_and_lists_them(alice):
    made = [alice.create(name=f"app-{number}", template=TEMPLATES[number % len(TEMPLATES)])
            for number in range(DOZEN)]
    resp = alice.call("GET", PROJECTS)
    assert resp.status_code == 200 and set(resp.json()) == {"projects"}
    listed = resp.json()["projects"]
    assert sorted(p["id"] for p in listed) == sorted(p["id"] for p in made)
    assert len({p["id"] for p in made}) == DOZEN, "ids are unique"
    for project in listed:
        assert_project(project)
        assert project["userId"] == alice.id
    for project in made:  # each deploy ends, and each project is still there after it
        assert alice.settled(project["id"])["name"] == project["name"]
    assert len(alice.call("GET", PROJECTS).json()["projects"]) == DOZEN


def test_get_answers_the_project(alice):
    made = alice.create(template="flask")
    got = alice.project(made["id"])
    for key in ("id", "userId", "name", "url", "template", "github_url", "created_at"):
        assert got[key] == made[key], key


def test_projects_are_their_owners_only(alice, bob):
    mine = alice.create()
    assert alice.settled(mine["id"])
    assert bob.call("GET", PROJECTS).json() == {"projects": []}
    for method, path, body in (
            ("GET", f"{PROJECTS}/{mine['id']}", None),
            ("DELETE", f"{PROJECTS}/{mine['id']}", None),
            ("PATCH", f"{PROJECTS}/{mine['id']}/status", {"status": "stopped"}),
            ("GET", f"/api/containers/{mine['id']}/status", None),
            ("POST", f"/api/containers/{mine['id']}/stop", None),
            ("POST", f"/api/containers/{mine['id']}/start", None),
            ("POST", f"/api/containers/{mine['id']}/restart", None)):
        assert_error(bob.call(method, path, json=body), 404, "NotFound")
    assert alice.project(mine["id"])["id"] == mine["id"], "bob's tries changed nothing"


def test_missing_projects_are_404(alice):
    missing = uuid.uuid4().hex
    for method, path in (("GET", f"{PROJECTS}/{missing}"), ("DELETE", f"{PROJECTS}/{missing}"),
                         ("GET", f"/api/containers/{missing}/status")):
        assert_error(alice.call(method, path), 404, "NotFound")
    resp = alice.call("PATCH", f"{PROJECTS}/{missing}/status", json={"status": "stopped"})
    assert_error(resp, 404, "NotFound")


def test_a_name_is_taken_per_user(alice, bob):
    first = alice.create()
    resp = alice.call("POST", PROJECTS, json={"name": first["name"], "github_url": alice.repo,
                                             "template": "static"})
    assert_error(resp, 409, "ConflictError")
    assert bob.create(name=first["name"])["name"] == first["name"]


@pytest.mark.parametrize("missing", ["name", "github_url", "template"])
def test_create_needs_every_field(alice, missing):
    body = {"name": f"c-{uuid.uuid4().hex[:8]}", "github_url": alice.repo, "template": "static"}
    for bad in ({k: v for k, v in body.items() if k != missing}, {**body, missing: ""}):
        assert_error(alice.call("POST", PROJECTS, json=bad), 400, "ValidationError")
    assert alice.call("GET", PROJECTS).json() == {"projects": []}


def test_create_refuses_a_body_that_is_not_json(alice):
    resp = alice.call("POST", PROJECTS, content=b'{"name": ',
                      headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "ValidationError")


def test_delete_removes_the_project(alice):
    kept, gone = alice.create(), alice.create()
    alice.settled(gone["id"])
    resp = alice.call("DELETE", f"{PROJECTS}/{gone['id']}")
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"message"} and isinstance(resp.json()["message"], str)
    assert_error(alice.call("GET", f"{PROJECTS}/{gone['id']}"), 404, "NotFound")
    assert_error(alice.call("DELETE", f"{PROJECTS}/{gone['id']}"), 404, "NotFound")
    assert_error(alice.call("GET", f"/api/containers/{gone['id']}/status"), 404, "NotFound")
    assert [p["id"] for p in alice.call("GET", PROJECTS).json()["projects"]] == [kept["id"]]
    assert alice.create(name=gone["name"])["name"] == gone["name"], "its name is free again"


def test_patch_status_stops_and_starts(alice):
    project = alice.settled(alice.create()["id"])
    resp = alice.call("PATCH", f"{PROJECTS}/{project['id']}/status", json={"status": "stopped"})
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"project"}
    assert_project(resp.json()["project"])
    assert resp.json()["project"]["status"] == "stopped"
    resp = engine_answer(alice.call("PATCH", f"{PROJECTS}/{project['id']}/status",
                                    json={"status": "running"}))
    assert resp.status_code == 200, resp.text
    assert_project(resp.json()["project"])
    assert resp.json()["project"]["id"] == project["id"]


@pytest.mark.parametrize("body", [{"status": "paused"}, {"status": ""}, {"status": 1}, {}])
def test_patch_status_refuses_other_values_with_400(alice, body):
    project = alice.settled(alice.create()["id"])
    resp = alice.call("PATCH", f"{PROJECTS}/{project['id']}/status", json=body)
    assert_error(resp, 400, "ValidationError")

"""A project's health path: `projects create --health-path`, `projects set`, and its row in
`projects show`, against a fake hostd (httpx.MockTransport), so nothing here waits on the
daemon's side of it; one test at the end runs against hostd once it has health paths."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from hostctl.exit_codes import ExitCode
from tests.cli.conftest import FakeHostd, error, serve_fake
from tests.cli.test_projects import OLD_DAEMON_PROJECT, REPO, details

PROJECT = {**OLD_DAEMON_PROJECT, "id": "p1", "desired_status": "running", "restarts": 0,
           "last_exit": None, "release": 5, "health_path": "/"}
PATCH, CREATE = ("PATCH", "/api/projects/p1"), ("POST", "/api/projects")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeHostd:
    return serve_fake(monkeypatch, FakeHostd([PROJECT]))


def project_answer(code: int = 200, **fields: object) -> httpx.Response:
    return httpx.Response(code, json={"project": {**PROJECT, **fields}})


def create(cli, *extra: str):
    return cli("projects", "create", "shop", "--repo", REPO, "--template", "flask",
               "--no-wait", "--json", *extra)


# --- projects create --health-path ----------------------------------------------------------


def test_create_sends_the_health_path(fake, cli):
    fake.answers[CREATE] = project_answer(201, health_path="/healthz", status="deploying")
    result = create(cli, "--health-path", "/healthz")
    assert result.exit_code == 0, result.stderr
    assert fake.sent()[-1] == ("POST", "/api/projects", {
        "name": "shop", "github_url": REPO, "template": "flask", "health_path": "/healthz"})
    assert json.loads(result.stdout)["project"]["health_path"] == "/healthz"
    assert result.stderr == ""


def test_create_without_it_leaves_it_to_hostd(fake, cli):
    fake.answers[CREATE] = project_answer(201, status="deploying")
    result = create(cli)
    assert result.exit_code == 0, result.stderr
    _, _, body = fake.sent()[-1]
    assert isinstance(body, dict) and "health_path" not in body, "absent, not null"


def test_create_warns_when_the_daemon_ignores_it(fake, cli):
    # A daemon from before health paths drops the field and answers without it.
    fake.answers[CREATE] = httpx.Response(201, json={"project": OLD_DAEMON_PROJECT})
    result = create(cli, "--health-path", "/healthz")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == "hostctl: this hostd ignores --health-path (it predates it): " \
                                    "it checks /"
    assert json.loads(result.stdout) == {"project": OLD_DAEMON_PROJECT}, "stdout stays JSON"
    fake.answers[CREATE] = httpx.Response(201, json={"project": OLD_DAEMON_PROJECT})
    assert create(cli).stderr == "", "nothing asked, nothing to warn about"


def test_create_refused_for_its_health_path_is_invalid(fake, cli):
    message = "health_path: must be a path starting with '/'"
    fake.answers[CREATE] = error(400, "ValidationError", message)
    result = create(cli, "--health-path", "healthz")
    assert result.exit_code == ExitCode.INVALID
    assert result.stderr.strip() == f"hostctl: {message}" and result.stdout == ""


# --- projects set --health-path --------------------------------------------------------------


@pytest.mark.parametrize("ref", ["shop", "p1"])
def test_set_prints_what_changed(fake, cli, ref):
    fake.answers[PATCH] = project_answer(health_path="/healthz")
    result = cli("projects", "set", ref, "--health-path", "/healthz")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["shop: health path / → /healthz"]
    assert fake.sent() == [("GET", "/api/projects", None),
                           ("PATCH", "/api/projects/p1", {"health_path": "/healthz"})]


def test_set_json_is_the_daemons_project(fake, cli):
    fake.answers[PATCH] = project_answer(health_path="/ready")
    result = cli("projects", "set", "shop", "--health-path", "/ready", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"project": {**PROJECT, "health_path": "/ready"}}


def test_set_to_the_same_path_says_so(fake, cli):
    fake.projects = [{**PROJECT, "health_path": "/healthz"}]
    fake.answers[PATCH] = project_answer(health_path="/healthz")
    result = cli("projects", "set", "shop", "--health-path", "/healthz")
    assert result.stdout.splitlines() == ["shop: health path is already /healthz"]


def test_set_on_a_project_listed_without_one_starts_from_the_default(fake, cli):
    fake.projects = [{**OLD_DAEMON_PROJECT, "id": "p1"}]
    fake.answers[PATCH] = project_answer(health_path="/up")
    assert cli("projects", "set", "shop", "--health-path", "/up").stdout.strip() == (
        "shop: health path / → /up")


def test_set_prints_the_daemons_words_as_data(fake, cli):
    fake.answers[PATCH] = project_answer(health_path="/[red]x[/] :rocket: \x1b]0;pwned\x07")
    result = cli("projects", "set", "shop", "--health-path", "/x")
    assert result.stdout.strip() == "shop: health path / → /[red]x[/] :rocket: \\x1b]0;pwned\\x07"


def test_set_with_nothing_to_change_is_a_usage_error(fake, cli):
    result = cli("projects", "set", "shop")
    assert result.exit_code == ExitCode.USAGE
    assert "nothing to change: give --health-path PATH" in result.stderr
    assert fake.requests == [], "refused before any request"


@pytest.mark.parametrize("path", ["healthz", "/a b", "/" + "x" * 200])
def test_a_path_hostd_refuses_is_invalid(fake, cli, path):
    message = ("health_path: must be a path starting with '/': at most 200 printable ASCII "
               "characters, no spaces")
    fake.answers[PATCH] = error(400, "ValidationError", message)
    result = cli("projects", "set", "shop", "--health-path", path)
    assert result.exit_code == ExitCode.INVALID
    assert result.stderr.strip() == f"hostctl: {message}" and result.stdout == ""
    assert fake.sent()[-1] == ("PATCH", "/api/projects/p1", {"health_path": path}), (
        "hostd has the last word on what a path may be")


def test_set_on_an_unknown_project_is_not_found_before_any_patch(fake, cli):
    result = cli("projects", "set", "nope", "--health-path", "/healthz")
    assert result.exit_code == ExitCode.NOT_FOUND and "'nope'" in result.stderr
    assert [method for method, _, _ in fake.sent()] == ["GET"]


def test_set_on_a_daemon_without_the_route_says_to_upgrade(fake, cli):
    message = "Method PATCH is not allowed on /api/projects/p1"
    fake.answers[PATCH] = error(405, "MethodNotAllowed", message)
    result = cli("projects", "set", "shop", "--health-path", "/healthz")
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.strip() == (
        f"hostctl: this hostd cannot change a project's settings: upgrade it ({message})")


# --- projects show ---------------------------------------------------------------------------


def test_show_has_a_health_path_row():
    assert details(PROJECT)["health path"] == "/"
    assert details({**PROJECT, "health_path": "/healthz"})["health path"] == "/healthz"
    assert details(OLD_DAEMON_PROJECT)["health path"] == "/", "what an older daemon checks"
    assert details({**PROJECT, "health_path": "/[b]x[/b]"})["health path"] == "/[b]x[/b]", (
        "data, not markup")


def test_projects_show_prints_the_row(fake, cli):
    fake.projects = [{**PROJECT, "health_path": "/healthz"}]
    fake.answers[("GET", "/api/projects/p1/deployments")] = httpx.Response(
        200, json={"deployments": []})
    shown = cli("projects", "show", "shop")
    assert shown.exit_code == 0, shown.stderr
    assert ["health", "path", "/healthz"] in [line.split() for line in shown.stdout.splitlines()]


# --- against hostd, once it has health paths (no engine needed) ---------------------------


def test_against_hostd(logged_in):
    name = f"h{uuid.uuid4().hex[:8]}"
    created = logged_in("projects", "create", name, "--repo", REPO, "--template", "flask",
                        "--health-path", "/healthz", "--no-wait", "--json")
    assert created.exit_code == 0, created.stderr
    if "health_path" not in json.loads(created.stdout)["project"]:
        pytest.skip("this hostd has no health paths yet")
    assert json.loads(created.stdout)["project"]["health_path"] == "/healthz"

    changed = logged_in("projects", "set", name, "--health-path", "/ready")
    assert changed.exit_code == 0, changed.stderr
    assert changed.stdout.strip() == f"{name}: health path /healthz → /ready"
    shown = logged_in("projects", "show", name, "--json")
    assert json.loads(shown.stdout)["project"]["health_path"] == "/ready"
    for bad in ("ready", "/a b", "/" + "x" * 200):
        refused = logged_in("projects", "set", name, "--health-path", bad)
        assert refused.exit_code == ExitCode.INVALID, (bad, refused.stderr)

"""`releases` and `rollback`: version parsing, the renderers, and the commands against a fake
hostd (httpx.MockTransport), so nothing here waits on a daemon, an engine or a deploy."""

from __future__ import annotations

import io
import json
import uuid

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from hostctl.cli import app
from hostctl.commands.releases import parse_version, undo_hint
from hostctl.context import AppContext
from hostctl.errors import InvalidArgument
from hostctl.exit_codes import ExitCode
from hostctl.output import format_release, releases_table
from tests.cli.conftest import FakeHostd, error, serve_fake
from tests.cli.test_projects import OLD_DAEMON_PROJECT, REPO, details
from tests.support import free_port

COMMIT = "3f2a1c9d0b8e7f6a5c4d3e2f1a0b9c8d7e6f5a4b"
PROJECT = {**OLD_DAEMON_PROJECT, "id": "p1", "desired_status": "running", "restarts": 0,
           "last_exit": None, "release": 5}


def release(version: int, cause: str, *, commit: str | None = COMMIT,
            current: bool = False) -> dict:
    return {"version": version, "image": f"hostd-app/p1:{version}", "commit": commit,
            "cause": cause, "created_at": f"2026-12-01T12:0{version}:00.000Z",
            "current": current}


LIST, ROLLBACK = ("GET", "/api/projects/p1/releases"), ("POST", "/api/projects/p1/rollback")
RELEASES = [release(5, "env: set FOO", current=True), release(4, "rollback to v1"),
            release(3, "deploy 3f2a1c9"), release(1, "deploy 0ab12cd", commit=None)]


def rendered(table) -> list[str]:
    console = Console(record=True, width=120)
    console.print(table)
    return [line.rstrip() for line in console.export_text().splitlines()]


# --- parsing: no daemon ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "version"), [("v3", 3), ("3", 3), ("V12", 12), ("007", 7),
                                               ("v999999999", 999_999_999)])
def test_versions_are_read_with_or_without_the_v(text, version):
    assert parse_version(text) == version


@pytest.mark.parametrize("text", ["", "v", "v0", "0", "-1", "3.0", "v 3", " 3", "3\n", "three",
                                  "vv3", "٣", "v1234567890", "1" * 5000])
def test_anything_else_is_refused(text):
    with pytest.raises(InvalidArgument, match="bad release version") as caught:
        parse_version(text)
    assert len(str(caught.value)) < 120, "a long argument is not echoed whole"


@pytest.mark.parametrize("version", ["three", "v0", "v3.1"])
def test_a_bad_version_exits_invalid_before_any_request(version):
    # Nothing listens at the URL: reaching the network would exit UNREACHABLE instead.
    env = {"HOSTCTL_API_URL": f"http://127.0.0.1:{free_port()}", "HOSTCTL_TOKEN": "t"}
    result = CliRunner().invoke(app, ["rollback", "shop", version], env=env)
    assert result.exit_code == ExitCode.INVALID, result.output
    assert result.stderr.startswith("hostctl: bad release version") and result.stdout == ""


def test_the_undo_hint_names_the_release_current_before():
    assert undo_hint("shop", 5, 6) == "to undo: hostctl rollback shop v5"
    assert undo_hint("shop", None, 1) is None, "nothing was current (or an older daemon)"
    assert undo_hint("shop", 6, 6) is None, "nothing changed: nothing to undo"


# --- the renderers -----------------------------------------------------------------------


def test_the_table_marks_the_current_release_and_shortens_commits():
    lines = rendered(releases_table(RELEASES))
    assert lines[0].split() == ["VERSION", "CAUSE", "COMMIT", "CREATED"]
    assert lines[1].split() == ["v5", "*", "env:", "set", "FOO", COMMIT[:7],
                                "2026-12-01T12:05:00.000Z"]
    assert lines[2].split()[:4] == ["v4", "rollback", "to", "v1"], "only the current is starred"
    assert lines[4].split() == ["v1", "deploy", "0ab12cd", "-", "2026-12-01T12:01:00.000Z"]
    assert COMMIT not in "\n".join(lines)


def test_the_table_prints_the_daemons_words_as_data():
    odd = release(2, "deploy [bold]x[/] :rocket:", commit="[red]ab")
    assert "deploy [bold]x[/] :rocket:" in "\n".join(rendered(releases_table([odd])))


def test_the_table_does_without_fields_a_daemon_may_leave_out():
    sparse = {"version": 2, "image": "hostd-app/p1:2", "commit": None}
    assert rendered(releases_table([sparse]))[1].split() == ["v2", "-", "-", "-"]


def test_show_has_a_release_row():
    assert format_release(3) == "v3" and format_release(None) == "-"
    assert details({**PROJECT, "release": 3})["release"] == "v3"
    assert details({**PROJECT, "release": None})["release"] == "-", "never released"
    assert details(OLD_DAEMON_PROJECT)["release"] == "-", "a daemon without releases"


def test_show_prints_a_reason_as_data():
    # A reason quoting a build's output once made rich fail on its markup.
    reason = "the build failed: [/] [red]npm ERR![/red]"
    assert details({**PROJECT, "status_reason": reason})["reason"] == reason


# --- the commands against a fake hostd ----------------------------------------------------


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeHostd:
    return serve_fake(monkeypatch, FakeHostd([PROJECT]))


def rolled_back(version: int, message: str) -> httpx.Response:
    return httpx.Response(200, json={"release": release(version, "rollback", current=True),
                                     "message": message})


def test_releases_prints_the_table_by_name_and_id(fake, cli):
    fake.answers[LIST] = httpx.Response(
        200, json={"releases": RELEASES})
    for ref in ("shop", "p1"):
        result = cli("releases", ref)
        assert result.exit_code == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].split() == ["VERSION", "CAUSE", "COMMIT", "CREATED"]
        assert [line.split()[0] for line in lines[1:]] == ["v5", "v4", "v3", "v1"]
    assert ("GET", "/api/projects/p1/releases", None) in fake.sent()


def test_releases_json_is_the_list(fake, cli):
    fake.answers[LIST] = httpx.Response(
        200, json={"releases": RELEASES})
    result = cli("releases", "shop", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"releases": RELEASES}


def test_releases_of_a_project_never_deployed(fake, cli):
    fake.answers[LIST] = httpx.Response(200, json={"releases": []})
    result = cli("releases", "shop")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "shop has no releases yet: a successful deploy makes the first"


@pytest.mark.parametrize("command", [["releases", "nope"], ["rollback", "nope"],
                                     ["rollback", "nope", "v2"]])
def test_an_unknown_project_is_not_found_before_asking_for_its_releases(fake, cli, command):
    result = cli(*command)
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "'nope'" in result.stderr
    assert [path for _, path, _ in fake.sent()] == ["/api/projects"]


@pytest.mark.parametrize(("args", "body"), [([], {}), (["v3"], {"version": 3}),
                                            (["3"], {"version": 3})])
def test_rollback_prints_the_message_and_how_to_undo(fake, cli, args, body):
    fake.answers[ROLLBACK] = rolled_back(6, "Rolled back to v3: now v6")
    result = cli("rollback", "shop", *args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["Rolled back to v3: now v6",
                                          "to undo: hostctl rollback shop v5"]
    assert fake.sent()[-1] == ("POST", "/api/projects/p1/rollback", body)


def test_the_undo_hint_uses_the_name_when_given_the_id(fake, cli):
    fake.answers[ROLLBACK] = rolled_back(6, "done")
    result = cli("rollback", "p1", "v4")
    assert result.stdout.splitlines()[-1] == "to undo: hostctl rollback shop v5"


def test_no_undo_hint_when_the_daemon_does_not_say_what_was_current(fake, cli):
    fake.projects = [OLD_DAEMON_PROJECT]  # no `release` field
    fake.answers[("POST", "/api/projects/a1/rollback")] = rolled_back(2, "Rolled back to v1")
    result = cli("rollback", "shop")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["Rolled back to v1"]


def test_rollback_json_is_the_daemons_answer(fake, cli):
    answer = {"release": release(6, "rollback to v3", current=True), "message": "Rolled back"}
    fake.answers[ROLLBACK] = httpx.Response(200, json=answer)
    result = cli("rollback", "shop", "v3", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == answer


def test_the_daemons_message_prints_as_sent(fake, cli):
    fake.answers[ROLLBACK] = rolled_back(6, "now [b]v6[/b] :rocket:")
    assert cli("rollback", "shop").stdout.splitlines()[0] == "now [b]v6[/b] :rocket:"


def test_on_a_terminal_a_spinner_shows_while_hostd_switches(fake, cli, monkeypatch):
    terminal = Console(file=io.StringIO(), force_terminal=True)
    monkeypatch.setattr(AppContext, "err", property(lambda self: terminal))
    fake.answers[ROLLBACK] = rolled_back(6, "done")
    result = cli("rollback", "shop")
    assert result.exit_code == 0, result.stderr
    assert "shop: rolling back…" in terminal.file.getvalue()
    assert result.stdout.splitlines()[0] == "done", "the spinner stays off stdout"


@pytest.mark.parametrize(("status", "name", "message", "code"), [
    (404, "NotFound", "shop has no release v9", ExitCode.NOT_FOUND),
    (409, "ConflictError", "no release before v1 to roll back to", ExitCode.CONFLICT),
    (409, "ConflictError", "the image of v2 was pruned: deploy its commit again",
     ExitCode.CONFLICT),
    (409, "ConflictError", "the app did not come up on v2: still on v5 [/]", ExitCode.CONFLICT),
    (400, "ValidationError", "version: must be at most 1000000", ExitCode.INVALID),
    (503, "ServiceUnavailable", "the Docker engine is unavailable", ExitCode.SERVER_ERROR),
])
def test_a_refused_rollback_is_one_line_and_no_undo_hint(fake, cli, status, name, message,
                                                          code):
    fake.answers[ROLLBACK] = error(status, name, message)
    result = cli("rollback", "shop", "v9")
    assert result.exit_code == code
    assert result.stderr.strip() == f"hostctl: {message}"
    assert result.stdout == ""


def test_projects_show_and_top_show_the_release(fake, cli):
    fake.projects = [PROJECT, {**OLD_DAEMON_PROJECT, "id": "b2", "name": "blog"}]
    fake.answers[("GET", "/api/projects/p1/deployments")] = httpx.Response(
        200, json={"deployments": []})
    shown = cli("projects", "show", "shop")
    assert shown.exit_code == 0, shown.stderr
    assert ["release", "v5"] in [line.split() for line in shown.stdout.splitlines()]

    top = cli("top", "--once", "--sort", "name")
    assert top.exit_code == 0, top.stderr
    lines = [line.split() for line in top.stdout.splitlines()]
    assert lines[0][:4] == ["NAME", "STATUS", "RESTARTS", "REL"]
    assert lines[1][:4] == ["blog", "running", "-", "-"], "an older daemon: no release"
    assert lines[2][:4] == ["shop", "running", "0", "v5"]
    snapshot = json.loads(cli("top", "--once", "--json", "--sort", "name").stdout)
    assert [p["release"] for p in snapshot["projects"]] == [None, 5]


# --- against hostd: only what holds before any deploy succeeds (no engine needed) --------


def test_a_new_project_has_no_release_yet(logged_in):
    name = f"r{uuid.uuid4().hex[:8]}"
    created = logged_in("projects", "create", name, "--repo", REPO, "--template", "flask",
                        "--no-wait", "--json")
    assert created.exit_code == 0, created.stderr
    assert json.loads(created.stdout)["project"].get("release") is None
    shown = logged_in("projects", "show", name)
    assert ["release", "-"] in [line.split() for line in shown.stdout.splitlines()]
    assert logged_in("releases", "nope-nothing").exit_code == ExitCode.NOT_FOUND

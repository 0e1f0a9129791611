"""projects commands against a real hostd (records only: no Docker engine needed here)."""

from __future__ import annotations

import json
import uuid

import pytest

from hostctl.exit_codes import ExitCode

REPO = "https://github.com/alice/shop"


def project_name() -> str:
    return f"p{uuid.uuid4().hex[:8]}"


def create(hostctl, name: str):
    return hostctl("projects", "create", name, "--repo", REPO, "--template", "flask",
                   "--no-wait", "--json")


def test_create_list_show_by_name_and_id(logged_in):
    name = project_name()
    created = create(logged_in, name)
    assert created.exit_code == 0, created.stderr
    project = json.loads(created.stdout)["project"]
    assert project["name"] == name and project["status"] == "deploying"

    listed = json.loads(logged_in("projects", "list", "--json").stdout)["projects"]
    assert [p["name"] for p in listed] == [name]

    for ref in (name, project["id"]):
        shown = logged_in("projects", "show", ref, "--json")
        assert json.loads(shown.stdout)["project"]["id"] == project["id"]


def test_a_failed_deploy_is_the_deploy_failed_exit_code_with_its_fields(logged_in, tmp_path):
    """Waited on a real daemon: the clone of a missing repository fails (no engine
    needed); hostctl's exit code follows `last_deploy`, and the project says how it ended."""
    name = project_name()
    created = logged_in("projects", "create", name, "--repo", f"file://{tmp_path}/none",
                        "--template", "static", "--timeout", "60")
    assert created.exit_code == ExitCode.DEPLOY_FAILED, created.stderr
    assert f"deploy of {name} failed" in created.stderr
    project = json.loads(logged_in("projects", "show", name, "--json").stdout)["project"]
    assert project["status"] == "error" and project["deploy_step"] is None
    assert project["last_deploy"]["status"] == "failed"
    assert project["last_deploy"]["reason"] == project["status_reason"]
    assert (project["source"], project["upload_digest"]) == ("git", None)


def test_list_renders_a_table(logged_in):
    name = project_name()
    create(logged_in, name)
    result = logged_in("projects", "list")
    assert result.exit_code == 0
    header = result.stdout.splitlines()[0].split()
    assert header == ["NAME", "STATUS", "TEMPLATE", "CPU", "MEM", "REQUESTS", "URL"]
    row = next(line.split() for line in result.stdout.splitlines() if line.startswith(name))
    assert row[1] in {"deploying", "error"}, "a deploy of an unreachable repo cannot be running"
    # Piped (not a terminal): one line per project, the URL never folded at 80 columns.
    assert len(result.stdout.splitlines()) == 2
    assert row[-1].startswith(f"http://{name}.") and row[-1].rsplit(":", 1)[1].isdigit()


def test_duplicate_name_is_a_conflict(logged_in):
    name = project_name()
    create(logged_in, name)
    assert create(logged_in, name).exit_code == ExitCode.CONFLICT


def test_invalid_repo_is_rejected(logged_in):
    result = logged_in("projects", "create", project_name(), "--repo", "not a url", "--no-wait")
    assert result.exit_code == ExitCode.INVALID


def test_unknown_project_is_not_found(logged_in):
    for command in ("show", "status", "logs", "start", "delete"):
        result = logged_in("projects", command, "nope-nothing", "--json")
        assert result.exit_code == ExitCode.NOT_FOUND, command
        assert "nope-nothing" in result.stderr


def test_delete_asks_first(logged_in):
    name = project_name()
    create(logged_in, name)
    declined = logged_in("projects", "delete", name, input="n\n")
    assert declined.exit_code != 0
    assert logged_in("projects", "show", name).exit_code == 0

    confirmed = logged_in("projects", "delete", name, input="y\n")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert logged_in("projects", "show", name).exit_code == ExitCode.NOT_FOUND


def test_delete_yes_skips_the_question(logged_in):
    name = project_name()
    create(logged_in, name)
    result = logged_in("projects", "delete", name, "--yes", "--json")
    assert result.exit_code == 0
    assert "message" in json.loads(result.stdout)


def test_projects_of_another_user_are_invisible(logged_in, hostctl):
    name = project_name()
    create(logged_in, name)
    hostctl.register()  # a second user now holds the keyring entry
    assert hostctl("projects", "show", name).exit_code == ExitCode.NOT_FOUND


def _docker_routes_exist(logged_in, name: str) -> bool:
    result = logged_in("projects", "status", name)
    return "No route" not in result.stderr


def test_container_routes(logged_in):
    name = project_name()
    create(logged_in, name)
    if not _docker_routes_exist(logged_in, name):
        pytest.skip("needs the Docker routes")
    status = logged_in("projects", "status", name, "--json")
    assert status.exit_code == 0 and "status" in json.loads(status.stdout)


# --- `projects show` rendered from dicts (no daemon): the supervision rows ---------------

OLD_DAEMON_PROJECT = {
    "id": "a1", "userId": "u1", "name": "shop", "status": "running", "status_reason": None,
    "url": "http://shop.al.localhost:8080", "template": "flask", "github_url": REPO,
    "created_at": "2026-11-30T09:00:00.000Z",
    "metrics": {"cpu": 1.5, "memory": 40.0, "requests": 7},
}
AT = "2026-12-01T12:00:00.000Z"


def details(project: dict) -> dict[str, str]:
    """The rows of `projects show` as label -> value, in order, from a console wide enough."""
    from rich.console import Console

    from hostctl.output import project_details

    console = Console(record=True, width=200)
    console.print(project_details(project))
    rows: dict[str, str] = {}
    for line in console.export_text().splitlines():
        # A label holds at most one space ("last exit"); the grid pads it with two or more.
        label, _, value = line.partition("  ")
        rows[label.strip()] = value.strip()
    return rows


def supervised(**fields) -> dict:
    base = {"desired_status": "running", "restarts": 0, "last_exit": None}
    return {**OLD_DAEMON_PROJECT, **base, **fields}


def exit_at(code, signal=None, oom=False) -> dict:
    return {"code": code, "signal": signal, "oom_killed": oom, "at": AT}


def test_show_without_supervision_fields_reads_as_never_restarted():
    rows = details(OLD_DAEMON_PROJECT)
    assert rows["restarts"] == "0" and rows["last exit"] == "-"
    assert "desired" not in rows


@pytest.mark.parametrize(("last_exit", "shown"), [
    (exit_at(1), f"exit code 1 at {AT}"),
    (exit_at(137, "SIGKILL"), f"SIGKILL (exit code 137) at {AT}"),
    (exit_at(137, "SIGKILL", oom=True), f"out of memory (exit code 137) at {AT}"),
    (exit_at(None, "SIGTERM"), f"SIGTERM at {AT}"),
])
def test_show_describes_the_last_exit(last_exit, shown):
    rows = details(supervised(restarts=4, last_exit=last_exit))
    assert rows["restarts"] == "4"
    assert rows["last exit"] == shown


def test_show_names_the_desired_status_only_when_status_does_not_say_it():
    reason = "crashed 4 times in a row (exit code 1); next start in 8 s"
    waiting = details(supervised(status="error", status_reason=reason, restarts=4,
                                 last_exit=exit_at(1)))
    assert waiting["desired"] == "running"
    assert list(waiting).index("desired") == list(waiting).index("status") + 1
    assert waiting["reason"] == reason
    for status, desired in (("running", "running"), ("deploying", "running"),
                            ("stopped", "stopped")):
        assert "desired" not in details(supervised(status=status, desired_status=desired))
    assert details(supervised(status="running", desired_status="stopped"))["desired"] == "stopped"


def test_show_names_an_upload_projects_source_and_the_last_deploy():
    digest = "ab" * 32
    rows = details({**OLD_DAEMON_PROJECT, "github_url": f"upload:{digest}", "source": "upload",
                    "upload_digest": digest,
                    "last_deploy": {"status": "failed", "reason": "the build failed: [red]"}})
    assert rows["repository"] == "uploaded source (sha256 abababababab…)"
    assert rows["last deploy"] == "failed: the build failed: [red]"
    rows = details(OLD_DAEMON_PROJECT)  # a daemon before these fields
    assert rows["repository"] == REPO and rows["last deploy"] == "-"

"""`hostctl env`: argument parsing on its own, then list / set / unset against a real hostd."""

from __future__ import annotations

import io
import json
import time
import uuid

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from hostctl.cli import app
from hostctl.client import HostdClient
from hostctl.commands.env import parse_assignments, stdin_key, unset_changes
from hostctl.errors import InvalidArgument
from hostctl.exit_codes import ExitCode
from hostctl.output import env_table, print_unfolded
from tests.support import free_port

REPO = "https://github.com/alice/shop"
SETTLE_TIMEOUT_S = 60.0

# --- parsing: no daemon ----------------------------------------------------------------


def test_assignments_split_on_the_first_equals():
    parsed = parse_assignments(["A=1", "URL=postgres://u:p@db/x?a=b", "EMPTY=", "_x9=a b"])
    assert parsed == {"A": "1", "URL": "postgres://u:p@db/x?a=b", "EMPTY": "", "_x9": "a b"}


def test_a_name_of_128_characters_is_accepted():
    assert parse_assignments(["N" * 128 + "=v"]) == {"N" * 128: "v"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["DEBUG"], "DEBUG has no value"),
        (["1ABC=x"], "bad variable name '1ABC'"),
        (["MY-VAR=x"], "bad variable name 'MY-VAR'"),
        (["=x"], "bad variable name ''"),
        (["CAFÉ=x"], "bad variable name 'CAFÉ'"),
        (["N" * 129 + "=v"], "129 characters long"),
        (["A=1", "A=2"], "A is given twice"),
    ],
)
def test_bad_assignments_are_refused(args, says):
    with pytest.raises(InvalidArgument, match=says):
        parse_assignments(args)


def test_a_refusal_never_echoes_what_may_be_a_secret():
    with pytest.raises(InvalidArgument) as caught:
        parse_assignments(["A=1", "TOKEN:hunter2"])
    assert "hunter2" not in str(caught.value) and "argument 2" in str(caught.value)


def test_stdin_takes_exactly_one_bare_key():
    assert stdin_key(["SECRET"]) == "SECRET"
    for args in (["A", "B"], ["A=1"], ["9A"]):
        with pytest.raises(InvalidArgument):
            stdin_key(args)


def test_unset_checks_names_and_folds_repeats():
    assert unset_changes(["A", "B", "A"]) == {"A": None, "B": None}
    with pytest.raises(InvalidArgument):
        unset_changes(["A", "no-dash"])


@pytest.mark.parametrize(
    "args",
    [
        ["env", "set", "shop", "DEBUG"],
        ["env", "set", "shop", "A=1", "A=2"],
        ["env", "set", "shop", "1A=x"],
        ["env", "set", "shop", "A", "B", "--stdin"],
        ["env", "unset", "shop", "BAD-NAME"],
        ["projects", "create", "shop", "--repo", "https://example.com/r.git", "--env", "NOPE"],
        ["projects", "create", "shop", "--repo", "https://example.com/r.git", "--env", "1=x"],
    ],
)
def test_refused_with_the_invalid_code_before_any_request(args):
    # Nothing listens at the URL: reaching the network would exit UNREACHABLE instead.
    env = {"HOSTCTL_API_URL": f"http://127.0.0.1:{free_port()}", "HOSTCTL_TOKEN": "t"}
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == ExitCode.INVALID, result.output
    assert result.stderr.startswith("hostctl: ") and result.stdout == ""


def test_the_client_sends_a_json_merge_and_returns_env_and_message():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, json={"env": {"A": "1"}})
        return httpx.Response(200, json={"env": {"A": "2"}, "message": "Set 1 and removed 1"})

    client = HostdClient("http://hostd.test", "t", transport=httpx.MockTransport(answer))
    assert client.get_env("p1") == {"A": "1"}
    update = client.patch_env("p1", {"A": "2", "OLD": None})
    assert update == {"env": {"A": "2"}, "message": "Set 1 and removed 1"}
    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", "/api/projects/p1/env"), ("PATCH", "/api/projects/p1/env"),
    ]
    assert json.loads(seen[1].content) == {"env": {"A": "2", "OLD": None}}


def test_the_table_shows_values_as_data_and_folds_rather_than_cuts():
    console = Console(record=True, width=60)
    console.print(env_table({"LONG": "x" * 150, "MARKUP": "[red]not red[/]"}))
    text = console.export_text()
    assert text.splitlines()[0].split() == ["KEY", "VALUE"]
    assert "[red]not red[/]" in text
    assert text.count("x") == 150, "a long value is folded onto more lines, never cut"


def test_piped_output_keeps_a_long_value_on_one_line_without_padding():
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    print_unfolded(console, env_table({"A": "short", "BIG": "y" * 5000}))
    lines = out.getvalue().splitlines()
    assert lines[1].split() == ["A", "short"] and lines[1] == lines[1].rstrip()
    assert lines[2].split() == ["BIG", "y" * 5000]


# --- against hostd: these need the daemon's /api/projects/{id}/env routes ---------------


def settled_project(hostctl) -> dict:
    """A project that has finished deploying (to `error`: its repo is unreachable here),
    since hostd answers 409 to config changes while a project deploys."""
    name = f"e{uuid.uuid4().hex[:8]}"
    created = hostctl("projects", "create", name, "--repo", REPO, "--template", "flask",
                      "--no-wait", "--json")
    assert created.exit_code == 0, created.stderr
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        project = json.loads(hostctl("projects", "show", name, "--json").stdout)["project"]
        if project["status"] != "deploying" or time.monotonic() > deadline:
            return project
        time.sleep(0.1)


def env_of(hostctl, ref: str) -> dict[str, str]:
    result = hostctl("env", "list", ref, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["env"]


def test_a_new_project_has_a_friendly_empty_list(logged_in):
    name = settled_project(logged_in)["name"]
    result = logged_in("env", "list", name)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        f"{name} has no config vars; set one with `hostctl env set {name} KEY=VALUE`"
    )
    assert env_of(logged_in, name) == {}


def test_set_list_unset(logged_in):
    project = settled_project(logged_in)
    name = project["name"]
    result = logged_in("env", "set", name, "B=x=y", "A=1", "EMPTY=")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip(), "the daemon's message is printed"
    assert env_of(logged_in, name) == {"A": "1", "B": "x=y", "EMPTY": ""}
    assert env_of(logged_in, project["id"]) == {"A": "1", "B": "x=y", "EMPTY": ""}

    table = logged_in("env", "list", name).stdout.splitlines()
    assert [line.split() for line in table] == [["KEY", "VALUE"], ["A", "1"], ["B", "x=y"],
                                                ["EMPTY"]]

    unset = logged_in("env", "unset", project["id"], "B", "EMPTY")
    assert unset.exit_code == 0, unset.stderr
    assert env_of(logged_in, name) == {"A": "1"}


def test_json_output_is_the_daemon_answer(logged_in):
    name = settled_project(logged_in)["name"]
    result = logged_in("env", "set", name, "GREETING=hello world", "--json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["env"] == {"GREETING": "hello world"} and isinstance(answer["message"], str)

    removed = json.loads(logged_in("env", "unset", name, "GREETING", "--json").stdout)
    assert removed["env"] == {} and removed["message"]


def test_list_prints_values_whole_and_literally(logged_in):
    name = settled_project(logged_in)["name"]
    big, markup = "v" * 5000, "[bold]not bold[/]"
    assert logged_in("env", "set", name, f"BIG={big}", f"MARKUP={markup}").exit_code == 0
    lines = logged_in("env", "list", name).stdout.splitlines()
    assert lines[1].split() == ["BIG", big], "piped: never folded, however long"
    assert lines[2].split(maxsplit=1) == ["MARKUP", markup]


def test_stdin_value_keeps_inner_newlines_and_drops_the_last(logged_in):
    name = settled_project(logged_in)["name"]
    secret = "-----BEGIN KEY-----\nabc=\n-----END KEY-----"
    result = logged_in("env", "set", name, "TLS_KEY", "--stdin", input=secret + "\n")
    assert result.exit_code == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert env_of(logged_in, name) == {"TLS_KEY": secret}

    empty = logged_in("env", "set", name, "OTHER", "--stdin", input="")
    assert empty.exit_code == ExitCode.INVALID
    assert env_of(logged_in, name) == {"TLS_KEY": secret}


def test_an_unknown_project_is_not_found(logged_in):
    for args in (["list", "nope-nothing"], ["set", "nope-nothing", "A=1"],
                 ["unset", "nope-nothing", "A"]):
        result = logged_in("env", *args)
        assert result.exit_code == ExitCode.NOT_FOUND, args
        assert "nope-nothing" in result.stderr


@pytest.mark.parametrize("reserved", ["PORT", "HOSTD_TOKEN"])
def test_reserved_names_are_refused_by_hostd(logged_in, reserved):
    name = settled_project(logged_in)["name"]
    assert logged_in("env", "set", name, "KEEP=1").exit_code == 0
    result = logged_in("env", "set", name, f"{reserved}=1", "OTHER=2")
    assert result.exit_code == ExitCode.INVALID
    assert result.stderr.startswith("hostctl: ") and result.stdout == ""
    assert env_of(logged_in, name) == {"KEEP": "1"}, "a refused change changes nothing"


def test_not_logged_in(hostctl):
    result = hostctl("env", "list", "shop")
    assert result.exit_code == ExitCode.NOT_LOGGED_IN


def test_create_takes_config_vars_for_the_first_deploy(logged_in):
    name = f"e{uuid.uuid4().hex[:8]}"
    created = logged_in("projects", "create", name, "--repo", REPO, "--template", "flask",
                        "--env", "A=1", "--env", "URL=x=y", "--no-wait", "--json")
    assert created.exit_code == 0, created.stderr
    assert env_of(logged_in, name) == {"A": "1", "URL": "x=y"}

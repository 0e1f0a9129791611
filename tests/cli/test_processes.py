"""`ps` and `scale`: argument parsing, the table, and the commands against a fake hostd
(httpx.MockTransport), so nothing here waits on a daemon or an engine."""

from __future__ import annotations

import json

import httpx
import pytest

from hostctl.commands.processes import parse_quantities
from hostctl.errors import InvalidArgument
from hostctl.output import format_uptime
from tests.cli.conftest import FakeHostd, error, serve_fake
from tests.cli.test_projects import OLD_DAEMON_PROJECT

PROJECT = {**OLD_DAEMON_PROJECT, "id": "p1"}
PS, SCALE = ("GET", "/api/projects/p1/processes"), ("PATCH", "/api/projects/p1/formation")


def replica(name: str, state: str = "running", **extra: object) -> dict:
    kind, number = name.split(".")
    return {"name": name, "type": kind, "number": int(number), "state": state,
            "restarts": 0, "release": 3, "serving": kind == "web", "running_since": None,
            "uptime_s": 3720.0, "cpu": 1.5, "memory": 42.25, "last_exit_code": None, **extra}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeHostd:
    return serve_fake(monkeypatch, FakeHostd([PROJECT]))


def test_quantities_parse_or_fail_before_any_request() -> None:
    assert parse_quantities(["web=3", "worker=0"]) == {"web": 3, "worker": 0}
    assert parse_quantities(["web=0"]) == {"web": 0}  # web stops, as ps:scale web=0
    for bad in (["web"], ["web=-1"], ["web=٣"], ["web=100"], ["a b=1"], ["web=1", "web=2"]):
        with pytest.raises(InvalidArgument):
            parse_quantities(bad)


def test_uptime_reads_short() -> None:
    assert [format_uptime(s) for s in (None, 5, 125, 7300, 200000)] == \
        ["-", "5s", "2m", "2h", "2d"]


def test_ps_shows_each_replica(fake, cli) -> None:
    fake.answers[PS] = httpx.Response(200, json={"processes": [
        replica("web.1"), replica("worker.1", "crashed", restarts=4, uptime_s=None,
                                  cpu=None, memory=None)]})
    result = cli("ps", "shop")
    assert result.exit_code == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["PROCESS", "STATE", "RESTARTS", "CPU", "MEMORY", "UPTIME", "RELEASE"]
    assert lines[1] == ["web.1", "running", "0", "1.5%", "42.2", "MB", "1h", "v3"]
    assert lines[2] == ["worker.1", "crashed", "4", "-", "-", "-", "v3"]


def test_ps_escapes_what_hostd_sends(fake, cli) -> None:
    fake.answers[PS] = httpx.Response(200, json={"processes": [
        replica("web.1", "\x1b]52;c;aGk=\x07[b]x[/b]")]})
    result = cli("ps", "shop")
    assert "\x1b" not in result.stdout and "[b]x[/b]" in result.stdout


def test_scale_sends_only_the_types_named_and_prints_the_answer(fake, cli) -> None:
    fake.answers[SCALE] = httpx.Response(200, json={
        "formation": {"web": 2, "worker": 1}, "message": "shop runs web=2 worker=1",
        "processes": [replica("web.1"), replica("web.2"), replica("worker.1")]})
    result = cli("scale", "shop", "web=2")
    assert result.exit_code == 0, result.stderr
    assert fake.sent()[-1] == ("PATCH", "/api/projects/p1/formation", {"web": 2})
    assert result.stdout.splitlines()[0] == "shop runs web=2 worker=1"
    assert "web.2" in result.stdout
    assert json.loads(cli("scale", "shop", "web=2", "--json").stdout)["formation"] == \
        {"web": 2, "worker": 1}


def test_scale_of_an_unknown_type_is_the_daemons_400(fake, cli) -> None:
    fake.answers[SCALE] = error(400, "ValidationError", "'clock' is not a process type")
    result = cli("scale", "shop", "clock=1")
    assert result.exit_code != 0 and "'clock' is not a process type" in result.stderr


def test_create_sends_the_first_formation(fake, cli) -> None:
    created = {**PROJECT, "status": "deploying"}
    fake.answers[("POST", "/api/projects")] = httpx.Response(201, json={"project": created})
    result = cli("projects", "create", "shop", "--repo", "https://github.com/a/shop",
                 "--scale", "worker=1", "--scale", "clock=0", "--no-wait")
    assert result.exit_code == 0, result.stderr
    method, path, body = fake.sent()[-1]
    assert (method, path) == ("POST", "/api/projects")
    assert body["formation"] == {"worker": 1, "clock": 0}
    bad = cli("projects", "create", "shop", "--repo", "https://x/y", "--scale", "worker")
    assert bad.exit_code != 0 and "bad scale" in bad.stderr

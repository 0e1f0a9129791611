"""`hostctl projects logs`: each runtime line after its process (`web.1 | …`), `--process`
sent as the daemon's filter, escaped on a terminal as every line is (issue 26)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.cli.conftest import FakeHostd, serve_fake
from tests.cli.test_password import ending
from tests.cli.test_projects import OLD_DAEMON_PROJECT

PROJECT = {**OLD_DAEMON_PROJECT, "id": "p1"}
LOGS = ("GET", "/api/projects/p1/logs")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeHostd:
    return serve_fake(monkeypatch, FakeHostd([PROJECT]))


def test_each_line_shows_after_its_process(fake, cli) -> None:
    fake.answers[LOGS] = httpx.Response(200, json={
        "source": "runtime", "lines": ["GET / 200", "job done"],
        "processes": ["web.1", "worker.1"]})
    result = cli("projects", "logs", "shop")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["web.1 | GET / 200", "worker.1 | job done"]
    as_json = json.loads(cli("projects", "logs", "shop", "--json").stdout)
    assert as_json["processes"] == ["web.1", "worker.1"]


def test_an_old_daemons_lines_show_as_they_were(fake, cli) -> None:
    fake.answers[LOGS] = httpx.Response(200, json={"source": "runtime", "lines": ["hi"]})
    result = cli("projects", "logs", "shop")
    assert result.stdout.splitlines() == ["hi"]


def test_process_is_sent_as_the_filter(fake, cli) -> None:
    fake.answers[LOGS] = httpx.Response(200, json={
        "source": "runtime", "lines": ["job"], "processes": ["worker.1"]})
    assert cli("projects", "logs", "shop", "--process", "worker").exit_code == 0
    assert fake.requests[-1].url.params["process"] == "worker"
    result = cli("projects", "logs", "shop", "--build", "--process", "worker")
    assert result.exit_code != 0 and "--build" in result.stderr


def test_a_follow_marks_each_line(fake, cli) -> None:
    fake.answers[LOGS] = ending(("log", {"line": "up", "process": "web.2"}),
                                ("log", {"line": "tick", "process": "worker.1"}),
                                ("end", {"reason": "the containers stopped"}))
    result = cli("projects", "logs", "shop", "-f", "-p", "web.2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["web.2 | up", "worker.1 | tick"]
    assert fake.requests[-1].url.params["process"] == "web.2"


# --- top and projects show: replicas by type -----------------------------------------------


def test_top_shows_replicas_by_type_from_the_metrics() -> None:
    from rich.console import Console

    from hostctl.client import ServerEvent
    from hostctl.top import TopState, render_top

    state = TopState()
    state.load_projects([{**PROJECT, "status": "running", "metrics": {
        "cpu": 3.0, "memory": 90.0, "requests": 1,
        "processes": {"worker": {"replicas": 1, "cpu": 1.0, "memory": 30.0},
                      "web": {"replicas": 3, "cpu": 2.0, "memory": 60.0}}}}])
    console = Console(record=True, width=160)
    console.print(render_top(state.rows.values()))
    text = console.export_text()
    assert "PROCESSES" in text and "web 3 · worker 1" in text
    scaled = {"projectId": "p1", "metrics": {"cpu": 1.0, "memory": 1.0, "requests": 1,
                                             "processes": {"web": {"replicas": 1, "cpu": 1.0,
                                                                   "memory": 1.0}}}}
    state.apply(ServerEvent("metrics_updated", scaled, "1"), now=1.0)
    assert state.rows["p1"].as_json()["processes"] == {"web": 1}


def test_show_lists_the_formation(fake, cli) -> None:
    fake.answers[("GET", "/api/projects/p1/formation")] = httpx.Response(200, json={
        "formation": {"worker": 2, "web": 1, "clock\x1b[2J": 0}, "processes": []})
    result = cli("projects", "show", "shop")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("processes"))
    assert "web 1 · clock" in row and "worker 2" in row and "\x1b" not in row


def test_show_on_a_daemon_without_process_types(fake, cli) -> None:
    result = cli("projects", "show", "shop")
    assert result.exit_code == 0, result.stderr
    assert any(line.split() == ["processes", "-"] for line in result.stdout.splitlines())

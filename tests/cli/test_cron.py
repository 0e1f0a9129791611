"""`hostctl cron NAME` and `hostctl cron run NAME ID` against a fake hostd
(httpx.MockTransport): the table, the run's output and exit code, the usage, and what a
repository wrote (a command, a log line) shown as data, its controls never sent raw."""

from __future__ import annotations

import httpx
import pytest
from rich.console import Console

from hostctl.exit_codes import ExitCode
from hostctl.output import cron_table
from tests.cli.conftest import FakeHostd, serve_fake
from tests.cli.test_projects import details
from tests.cli.test_releases import PROJECT

JOBS = ("GET", "/api/projects/p1/cron")
RUN = ("POST", "/api/projects/p1/cron/3f2a1c9b/run")
RUNS = ("GET", "/api/projects/p1/cron/3f2a1c9b/runs")


def a_run(status: str, exit_code: int | None, **extra: object) -> dict:
    finished = None if status == "running" else "2026-12-07T12:01:02.000Z"
    return {"id": "r1" * 16, "job": "3f2a1c9b", "trigger": "manual",
            "scheduled_for": "2026-12-07T12:01:00.000Z",
            "started_at": "2026-12-07T12:01:00.500Z", "finished_at": finished,
            "status": status, "exit_code": exit_code, "reason": None, **extra}


def a_job(command: str = "python task.py", last_run: dict | None = None) -> dict:
    return {"id": "3f2a1c9b", "command": command, "schedule": "*/5 * * * *",
            "concurrency_policy": "forbid", "last_run": last_run,
            "next_run": "2026-12-07T12:05:00.000Z", "running": 0}


def rendered(table) -> str:
    console = Console(record=True, width=160)
    console.print(table)
    return console.export_text()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeHostd:
    return serve_fake(monkeypatch, FakeHostd([PROJECT]))


def test_the_table_has_each_jobs_schedule_command_last_and_next_run():
    text = rendered(cron_table([a_job(last_run=a_run("failed", 2))]))
    header, row = text.splitlines()[:2]
    assert header.split() == ["ID", "SCHEDULE", "COMMAND", "LAST", "RUN", "NEXT", "RUN"]
    assert row.split() == ["3f2a1c9b", "*/5", "*", "*", "*", "*", "python", "task.py",
                           "[forbid]", "failed", "(exit", "2)", "2026-12-07T12:01:00.500Z",
                           "2026-12-07T12:05:00.000Z"]
    assert rendered(cron_table([a_job()])).splitlines()[1].split()[-2:] == \
        ["-", "2026-12-07T12:05:00.000Z"], "no run yet"


def test_a_command_is_data_and_its_controls_are_shown():
    text = rendered(cron_table([a_job("echo [red]x[/] \x1b]52;c;bad\x07")]))
    assert "[red]x[/]" in text and "\x1b" not in text and "\\x1b]52;c;bad\\x07" in text


def test_cron_lists_and_show_says_which_jobs_fail(fake, cli):
    fake.answers[JOBS] = httpx.Response(200, json={"jobs": [a_job()]})
    result = cli("cron", "shop")
    assert result.exit_code == 0, result.stderr
    assert "python task.py" in result.stdout
    fake.answers[JOBS] = httpx.Response(200, json={"jobs": []})
    assert "no cron jobs" in cli("cron", "shop").stdout
    assert details({**PROJECT, "cron": {"failing": ["3f2a1c9b"]}})["cron"] == \
        "failing: 3f2a1c9b (hostctl cron shop)"
    assert "cron" not in details({**PROJECT, "cron": {"failing": []}})


def test_cron_run_waits_and_exits_with_the_runs_exit_code(fake, cli):
    fake.answers[RUN] = httpx.Response(202, json={"run": a_run("running", None)})
    done = a_run("failed", 3, reason="exited with code 3", log=["step 1", "bad \x1b[2J"])
    fake.answers[RUNS] = httpx.Response(200, json={"job": "3f2a1c9b", "runs": [done]})
    result = cli("cron", "run", "shop", "3f2a1c9b")
    assert result.exit_code == 3, result.stderr
    assert result.stdout.splitlines() == ["step 1", "bad \x1b[2J"]  # piped: as it is
    assert "failed: exited with code 3" in result.stderr
    fake.answers[RUNS] = httpx.Response(200, json={"job": "3f2a1c9b",
                                                   "runs": [a_run("ok", 0, log=[])]})
    assert cli("cron", "run", "shop", "3f2a1c9b").exit_code == 0


def test_cron_run_detached_answers_at_once(fake, cli):
    fake.answers[RUN] = httpx.Response(202, json={"run": a_run("running", None)})
    result = cli("cron", "run", "shop", "3f2a1c9b", "--detach")
    assert result.exit_code == 0, result.stderr
    assert "started" in result.stderr
    assert RUNS not in [(m, p) for m, p, _ in fake.sent()]


@pytest.mark.parametrize("words", [["run", "shop"], ["shop", "extra"], ["go", "shop", "x"]])
def test_anything_else_is_the_usage(fake, cli, words):
    result = cli("cron", *words)
    assert result.exit_code == ExitCode.INVALID
    assert "usage: hostctl cron NAME" in result.stderr

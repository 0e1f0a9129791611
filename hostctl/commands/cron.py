"""`hostctl cron NAME` and `hostctl cron run NAME ID`: a project's scheduled jobs (its
app.json `cron`, as Dokku's `cron:list` and `cron:run`), and one run now.

`cron run` waits for the run to end (its output's last lines, then its exit code as
hostctl's) unless `--detach`.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from hostctl.commands.common import JsonOpt, state
from hostctl.errors import HostctlError, InvalidArgument

if TYPE_CHECKING:
    from hostctl.client import CronRun, HostdClient
    from hostctl.context import AppContext

POLL_S = 1.0
USAGE = "hostctl cron NAME, or hostctl cron run NAME ID"


def cron(
    ctx: typer.Context,
    words: Annotated[list[str], typer.Argument(
        help="NAME to list the project's jobs; `run NAME ID` to run one now.",
        metavar="NAME | run NAME ID", show_default=False)],
    detach: Annotated[bool, typer.Option(
        "--detach", help="cron run: answer once the run has started.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """List a project's scheduled jobs (its app.json `cron`): id, schedule, command, the
    last run and its exit, the next run (UTC). `cron run NAME ID` runs one now, in a
    fresh container of the current release, and exits with its exit code.

    \b
    Example:
        hostctl cron shop
        hostctl cron run shop 3f2a1c9b
    """
    if len(words) == 1:
        _list(state(ctx), words[0], json_output)
    elif len(words) == 3 and words[0] == "run":
        _run(state(ctx), words[1], words[2], detach=detach, json_output=json_output)
    else:
        raise InvalidArgument(f"usage: {USAGE}")


def _list(app_ctx: AppContext, project: str, json_output: bool) -> None:
    client = app_ctx.client()
    found = client.find_project(project)
    jobs = client.cron_jobs(found["id"])
    if json_output:
        from hostctl.output import write_json

        write_json({"jobs": jobs})
        return
    if not jobs:
        app_ctx.out.print(f"{found['name']} has no cron jobs: its app.json has no `cron` "
                          "entries", markup=False)
        return
    from hostctl.output import cron_table

    app_ctx.show(cron_table(jobs))


def _run(app_ctx: AppContext, project: str, job_id: str, *, detach: bool,
         json_output: bool) -> None:
    from hostctl.output import terminal_safe, write_json

    client = app_ctx.client()
    found = client.find_project(project)
    run = client.run_cron(found["id"], job_id)
    if not detach:
        run = _wait(client, found["id"], run)
    if json_output:
        write_json({"run": run})
    else:
        shown = terminal_safe if sys.stdout.isatty() else str
        for line in run.get("log", []):
            print(shown(line), flush=True)
        print(terminal_safe(_summary(run)), file=sys.stderr)
    if not detach and run["status"] != "ok":
        code = run.get("exit_code")
        raise typer.Exit(code if isinstance(code, int) and 0 < code <= 255 else 1)


def _wait(client: HostdClient, project_id: str, run: CronRun) -> CronRun:
    """The run once it has ended (polled: a run may take hours, a stream would idle)."""
    while True:
        found = next((r for r in client.cron_runs(project_id, run["job"])
                      if r["id"] == run["id"]), None)
        if found is None:
            raise HostctlError(f"run {run['id']} is no longer listed: see hostctl cron")
        if found["finished_at"] is not None:
            return found
        time.sleep(POLL_S)


def _summary(run: CronRun) -> str:
    if run["finished_at"] is None:
        return f"run {run['id'][:12]} of job {run['job']} started"
    why = f": {run['reason']}" if run.get("reason") else ""
    return f"run {run['id'][:12]} of job {run['job']} {run['status']}{why}"


def register_commands(app: typer.Typer) -> None:
    app.command()(cron)

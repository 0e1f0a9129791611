"""`hostctl run NAME -- CMD ARGS…`: a one-off command in a fresh container of the
project's current release (Heroku's and Dokku's `run`): its output as it comes, and its
exit code as hostctl's."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hostctl.commands.common import state
from hostctl.errors import HostctlError, InvalidArgument

TIMED_OUT = 124  # as timeout(1) says it


def run(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="The project (name or id).")],
    command: Annotated[list[str], typer.Argument(
        help="The command and its arguments, after `--` (no shell: add `sh -c '…'` for one).",
        show_default=False)],
    timeout: Annotated[int | None, typer.Option(
        "--timeout", help="Seconds it may run (default: the daemon's HOSTD_RUN_TIMEOUT).",
        show_default=False)] = None,
) -> None:
    """Run a command once in a fresh container of the project's current release: same
    image, config vars and limits, no web traffic. Exits with the command's exit code.

    \b
    Example:
        hostctl run shop -- flask init-db
        hostctl run shop -- sh -c 'ls -l /app'
    """
    from hostctl.output import terminal_safe

    if command[:1] == ["--"]:  # with interspersed options off, click keeps the separator
        command = command[1:]
    if not command:
        raise InvalidArgument("give the command after `--`: hostctl run NAME -- CMD ARGS…")
    app_ctx = state(ctx)
    client = app_ctx.client()
    project_id = client.find_project(project)["id"]
    body: dict[str, object] = {"command": command}
    if timeout is not None:
        body["timeout"] = timeout
    # The command's output is the app's: on a terminal its control characters are shown.
    shown = terminal_safe if sys.stdout.isatty() else str
    for event in client.stream(f"/api/projects/{project_id}/run", method="POST", json=body):
        data = event.data if isinstance(event.data, dict) else {}
        if event.event == "output":
            print(shown(str(data.get("line", ""))), flush=True)
        elif event.event == "exit":
            raise typer.Exit(_exit_code(data))
    raise HostctlError("the daemon ended the run without its exit code")


def _exit_code(data: dict) -> int:
    if data.get("timed_out"):
        print("hostctl: the command ran out of time and was stopped", file=sys.stderr)
        return TIMED_OUT
    code = data.get("code")
    return code if isinstance(code, int) and 0 <= code <= 255 else 1


def register_commands(app: typer.Typer) -> None:
    app.command(context_settings={"allow_interspersed_args": False})(run)

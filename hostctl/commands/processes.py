"""`ps` and `scale`: a project's process types, their replicas, and how many of each run.

A Procfile's every line but `release:` is a process type (without a Procfile, the
template's command is `web`); `web` gets $PORT and the URL, the others none. New types
start at 1 for web and 0 for the others, until scaled (or app.json's `formation` says).
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from hostctl.commands.common import JsonOpt, ProjectArg, state
from hostctl.errors import InvalidArgument

# As hostd reads a Procfile's names; the quantity in ASCII digits, at most 2 (hostd: 0-20).
SCALE_PATTERN = re.compile(r"([A-Za-z0-9_-]{1,63})=([0-9]{1,2})")

QuantitiesArg = Annotated[
    list[str],
    typer.Argument(help="TYPE=N pairs, as web=3 worker=1 (0 stops a type other than web).",
                   metavar="TYPE=N...", show_default=False),
]


def parse_quantities(pairs: list[str]) -> dict[str, int]:
    """`["web=3", "worker=1"]` as `{"web": 3, "worker": 1}`; InvalidArgument before any
    request for anything else (a type given twice included)."""
    quantities: dict[str, int] = {}
    for pair in pairs:
        match = SCALE_PATTERN.fullmatch(pair)
        if match is None:
            # Truncated and repr'd: the argument may be long, or hold control characters.
            raise InvalidArgument(f"bad scale {pair[:40]!r}: write TYPE=N, as web=3")
        name, count = match.group(1), int(match.group(2))
        if name in quantities:
            raise InvalidArgument(f"{name} is given twice")
        quantities[name] = count
    return quantities


def ps(ctx: typer.Context, project: ProjectArg, json_output: JsonOpt = False) -> None:
    """List a project's processes: each replica's type.number, state, restarts, CPU,
    memory and uptime.

    \b
    Example:
        hostctl ps shop
    """
    app_ctx = state(ctx)
    client = app_ctx.client()
    found = client.find_project(project)
    replicas = client.processes(found["id"])
    if json_output:
        from hostctl.output import write_json

        write_json({"processes": replicas})
        return
    if not replicas:
        app_ctx.out.print(f"{found['name']} runs no process", markup=False)
        return
    from hostctl.output import processes_table

    app_ctx.show(processes_table(replicas))


def scale(ctx: typer.Context, project: ProjectArg, quantities: QuantitiesArg,
          json_output: JsonOpt = False) -> None:
    """Set how many replicas of each process type run; hostd answers once they do.

    Only the types named change. New web replicas serve once they answer; a change whose
    new replica never answers changes nothing. web=0 stops web: the other types run on,
    the app has no URL until web=1.

    \b
    Example:
        hostctl scale shop web=3 worker=1
    """
    wanted = parse_quantities(quantities)  # a typo costs no request
    app_ctx = state(ctx)
    client = app_ctx.client()
    found = client.find_project(project)
    if json_output or not app_ctx.err.is_terminal:
        result = client.scale(found["id"], wanted)
    else:
        with app_ctx.err.status(f"{found['name']}: scaling…"):
            result = client.scale(found["id"], wanted)
    if json_output:
        from hostctl.output import write_json

        write_json(result)
        return
    from hostctl.output import processes_table, terminal_safe

    app_ctx.out.print(terminal_safe(result["message"] or "scaled"), markup=False)
    app_ctx.show(processes_table(result["processes"]))


def register_commands(app: typer.Typer) -> None:
    app.command()(ps)
    app.command()(scale)

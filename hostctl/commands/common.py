"""Options shared by every command, and the way a command reaches the context."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hostctl.context import AppContext

JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Machine-readable output: one JSON object, NDJSON for streams."),
]
ProjectArg = Annotated[str, typer.Argument(help="Project name (or id).", show_default=False)]


def state(ctx: typer.Context) -> AppContext:
    return ctx.find_root().obj


def read_password_stdin() -> str:
    """The first line of stdin, for scripts: `echo "$PW" | hostctl login --password-stdin`."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise typer.BadParameter("no password on stdin", param_hint="--password-stdin")
    return password


def read_lines_stdin(*names: str) -> list[str]:
    """One line of stdin per name (`current password`, `new password`), none empty."""
    lines = []
    for name in names:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise typer.BadParameter(f"no {name} on stdin (one per line: {', '.join(names)})",
                                     param_hint="stdin")
        lines.append(line)
    return lines


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()

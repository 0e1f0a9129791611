"""The `env` noun: a project's config vars (environment variables): list, set, unset.

hostd owns the rules (reserved names, value sizes, how many variables). hostctl checks
only what it can see in its own arguments (a missing `=`, a malformed name, a key given
twice), so a typo is refused before it costs the project a restart. Values never appear
in an error message: they are often secrets, and stderr often ends up in CI logs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from hostctl.commands.common import JsonOpt, ProjectArg, state
from hostctl.errors import InvalidArgument

if TYPE_CHECKING:
    from hostctl.client import HostdClient

# The daemon's rule, repeated here only to refuse typos early: hostd has the last word.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME_LENGTH = 128

AssignmentsArg = Annotated[
    list[str],
    typer.Argument(
        help="KEY=VALUE pairs (a KEY alone with --stdin).", metavar="KEY=VALUE...",
        show_default=False,
    ),
]
KeysArg = Annotated[
    list[str],
    typer.Argument(help="Names of the variables to remove.", metavar="KEY...", show_default=False),
]
StdinOpt = Annotated[
    bool,
    typer.Option("--stdin", help="Read the value of the one KEY from stdin (for secrets)."),
]


def check_name(name: str) -> str:
    """The name itself, or InvalidArgument saying what is wrong with it."""
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(
            f"variable name {name[:20]}… is {len(name)} characters long "
            f"(at most {MAX_NAME_LENGTH})"
        )
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidArgument(
            f"bad variable name {name!r}: letters, digits and _, not starting with a digit"
        )
    return name


def parse_assignments(args: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` arguments as a dict, split on the first `=` (values may hold `=`)."""
    changes: dict[str, str] = {}
    for position, arg in enumerate(args, start=1):
        key, equals, value = arg.partition("=")
        if not equals:
            raise InvalidArgument(_missing_equals(arg, position))
        check_name(key)
        if key in changes:
            # Last-wins would silently drop a value the user typed: make them choose.
            raise InvalidArgument(f"{key} is given twice: which value did you mean?")
        changes[key] = value
    return changes


def _missing_equals(arg: str, position: int) -> str:
    if NAME_PATTERN.fullmatch(arg):
        return (f"{arg} has no value: write {arg}=VALUE ({arg}= for an empty one), "
                f"or {arg} --stdin to read it from stdin")
    # Not a name: possibly a mistyped `KEY:secret`, so the argument is not echoed.
    return f"KEY=VALUE argument {position} has no `=`"


def stdin_key(args: Sequence[str]) -> str:
    """The one KEY that `--stdin` gives a value to."""
    if len(args) != 1 or "=" in args[0]:
        raise InvalidArgument("--stdin reads one value: give exactly one KEY, without `=`")
    return check_name(args[0])


def unset_changes(keys: Iterable[str]) -> dict[str, None]:
    """JSON merge removals; a key given twice is still one removal, so no need to refuse."""
    return {check_name(key): None for key in keys}


def read_value_stdin(key: str) -> str:
    """All of stdin (a PEM key spans lines) less one final newline, as `echo` adds one.

    On a terminal, a hidden prompt instead: the value never shows on screen.
    """
    if sys.stdin.isatty():
        return typer.prompt(key, hide_input=True)
    value = sys.stdin.read()
    value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        # `KEY=` sets an empty value on purpose; an empty stdin is a pipe that broke.
        raise InvalidArgument(f"no value for {key} on stdin")
    return value


def list_env(ctx: typer.Context, project: ProjectArg, json_output: JsonOpt = False) -> None:
    """List a project's config vars.

    \b
    Example:
        hostctl env list shop
        hostctl env list shop --json
    """
    app_ctx = state(ctx)
    client = app_ctx.client()
    found = client.find_project(project)
    env = client.get_env(found["id"])
    if json_output:
        from hostctl.output import write_json

        write_json({"env": env})
        return
    if not env:
        name = found["name"]
        app_ctx.out.print(
            f"{name} has no config vars; set one with `hostctl env set {name} KEY=VALUE`",
            markup=False,
        )
        return
    from hostctl.output import env_table

    app_ctx.show(env_table(env))


def set_env(
    ctx: typer.Context,
    project: ProjectArg,
    assignments: AssignmentsArg,
    stdin: StdinOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Set config vars; a running project restarts with them before this returns.

    \b
    Example:
        hostctl env set shop DEBUG=0 GREETING="hello world"
        printf %s "$STRIPE_KEY" | hostctl env set shop STRIPE_KEY --stdin
    """
    if stdin:
        key = stdin_key(assignments)
        client = state(ctx).client()  # not logged in: say so before reading a secret
        _apply(ctx, client, project, {key: read_value_stdin(key)}, json_output)
    else:
        changes = parse_assignments(assignments)
        _apply(ctx, state(ctx).client(), project, changes, json_output)


def unset(
    ctx: typer.Context, project: ProjectArg, keys: KeysArg, json_output: JsonOpt = False
) -> None:
    """Remove config vars; a running project restarts without them before this returns.

    \b
    Example:
        hostctl env unset shop DEBUG GREETING
    """
    changes = unset_changes(keys)
    _apply(ctx, state(ctx).client(), project, changes, json_output)


def _apply(
    ctx: typer.Context, client: HostdClient, project: str,
    changes: Mapping[str, str | None], json_output: bool,
) -> None:
    update = client.patch_env(client.find_project(project)["id"], changes)
    state(ctx).reply(json_output, update, update["message"])


def register_commands(app: typer.Typer) -> None:
    app.command("list")(list_env)
    app.command("set")(set_env)
    app.command()(unset)

"""`releases` and `rollback`: a project's release history, and going back in it.

hostd numbers releases per project (v1, v2, …) and only ever adds to the history: a
deploy, a config change and a rollback each make a new one. A rollback runs an earlier
release's image and config vars again as the newest release, so undoing it is one more
rollback, to the release that was current before: the command prints that line.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from hostctl.commands.common import JsonOpt, ProjectArg, state
from hostctl.errors import InvalidArgument

if TYPE_CHECKING:
    from hostctl.client import HostdClient, RollbackResult
    from hostctl.context import AppContext

# ASCII digits only (int() would also take "٣"), and at most 9 of them: hostd refuses
# anything past a million anyway, and int() refuses strings of thousands of digits.
VERSION_PATTERN = re.compile(r"[vV]?([0-9]{1,9})")

VersionArg = Annotated[
    str | None,
    typer.Argument(
        help="The release to go back to, v3 or 3 (default: the one before the current).",
        metavar="[vN]", show_default=False,
    ),
]


def parse_version(text: str) -> int:
    """`v3` or `3` as 3; anything else is InvalidArgument, before any request is sent."""
    match = VERSION_PATTERN.fullmatch(text)
    version = int(match.group(1)) if match else 0
    if version < 1:
        # Truncated and repr'd: the argument may be long, or hold control characters.
        raise InvalidArgument(
            f"bad release version {text[:20]!r}: write v3 or 3 (`hostctl releases NAME` "
            "lists them)"
        )
    return version


def undo_hint(name: str, before: int | None, now: int) -> str | None:
    """The command that undoes a rollback: back to the release current before it.

    None when there is nothing to say: no release was current (or the daemon does not
    report it), or the rollback left the same release current.
    """
    if before is None or before == now:
        return None
    return f"to undo: hostctl rollback {name} v{before}"


def releases(ctx: typer.Context, project: ProjectArg, json_output: JsonOpt = False) -> None:
    """List a project's releases, newest first, the current one marked *.

    Every successful deploy, config change and rollback makes one.

    \b
    Example:
        hostctl releases shop
        hostctl releases shop --json
    """
    app_ctx = state(ctx)
    client = app_ctx.client()
    found = client.find_project(project)
    history = client.releases(found["id"])
    if json_output:
        from hostctl.output import write_json

        write_json({"releases": history})
        return
    if not history:
        app_ctx.out.print(f"{found['name']} has no releases yet: a successful deploy makes "
                          "the first", markup=False)
        return
    from hostctl.output import releases_table

    app_ctx.show(releases_table(history))


def rollback(
    ctx: typer.Context,
    project: ProjectArg,
    version: VersionArg = None,
    json_output: JsonOpt = False,
) -> None:
    """Go back to an earlier release (default: the one before the current).

    The app starts on that release's image and config vars as a new release; hostd
    answers once it serves. Prints how to undo it.

    \b
    Example:
        hostctl rollback shop
        hostctl rollback shop v3
    """
    target = None if version is None else parse_version(version)  # a typo costs no request
    app_ctx = state(ctx)
    client = app_ctx.client()
    found = client.find_project(project)
    # Read before the rollback: afterwards the project's release is the new one.
    before = found.get("release")
    result = _rollback_with_spinner(app_ctx, client, found["id"], found["name"], target,
                                    quiet=json_output)
    if json_output:
        from hostctl.output import write_json

        write_json(result)  # the daemon's answer as it is, like every other --json
        return
    app_ctx.out.print(result["message"], markup=False)
    hint = undo_hint(found["name"], before, result["release"]["version"])
    if hint is not None:
        app_ctx.out.print(hint, markup=False)


def _rollback_with_spinner(
    app_ctx: AppContext, client: HostdClient, project_id: str, name: str,
    target: int | None, *, quiet: bool,
) -> RollbackResult:
    # hostd answers only once the app serves on the release, which takes seconds: show
    # that something is happening, on a terminal only (a spinner in a CI log is noise).
    if quiet or not app_ctx.err.is_terminal:
        return client.rollback(project_id, target)
    with app_ctx.err.status(f"{name}: rolling back…"):
        return client.rollback(project_id, target)


def register_commands(app: typer.Typer) -> None:
    app.command()(releases)
    app.command()(rollback)

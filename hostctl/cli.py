"""The `hostctl` command line: thin typer commands over `HostdClient` and the renderers.

Heavy modules (httpx, rich, keyring) are imported inside the commands that use them,
so `hostctl --help` costs only typer. Errors are turned into one red line and an exit
code by `HostctlGroup.invoke`, the one top-level handler.
"""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from hostctl import __version__
from hostctl.context import AppContext
from hostctl.errors import HostctlError
from hostctl.exit_codes import describe, exit_code_for

if TYPE_CHECKING:
    # The Context typer really passes here: its vendored click's, which typer exports under
    # no public name (typer.Context is a subclass used to annotate commands).
    from typer._click import Context as ClickContext


class HostctlGroup(TyperGroup):
    """The root group: every error raised below it ends here, once."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except (HostctlError, KeyboardInterrupt) as exc:
            report_error(ctx, exc)
            raise typer.Exit(exit_code_for(exc)) from None


def report_error(ctx: ClickContext, exc: BaseException) -> None:
    app_ctx = ctx.obj if isinstance(ctx.obj, AppContext) else AppContext()
    if app_ctx.debug:
        traceback.print_exception(exc, file=sys.stderr)
    from hostctl.output import terminal_safe

    app_ctx.err.print(f"hostctl: {terminal_safe(describe(exc))}", style="red", markup=False,
                      soft_wrap=True)


app = typer.Typer(
    cls=HostctlGroup,
    name="hostctl",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: rich would add ~60 ms to every `--help`
    pretty_exceptions_enable=False,
)
projects_app = typer.Typer(
    help=(
        "Create, inspect, start, stop, deploy and delete your projects.\n\n"
        "\b\nExample:\n    hostctl projects create shop --repo https://github.com/alice/shop"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(projects_app, name="projects")
env_app = typer.Typer(
    help=(
        "List, set and unset a project's config vars (environment variables).\n\n"
        "\b\nExample:\n    hostctl env set shop DATABASE_URL=postgres://db/shop DEBUG=0"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(env_app, name="env")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hostctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    api_url: Annotated[
        str | None,
        typer.Option("--api-url", help="hostd URL (default: HOSTCTL_API_URL, config, :3000)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """hostctl: deploy and watch projects on your own hostd.

    \b
    Example:
        hostctl login --email alice@example.com
        hostctl projects list
    """
    app_ctx = AppContext(api_url_flag=api_url, debug=debug)
    ctx.obj = app_ctx
    ctx.call_on_close(app_ctx.close)


# Command bodies live in their own modules, registered here so the tree reads in one place.
from hostctl.commands import auth as _auth  # noqa: E402
from hostctl.commands import cron as _cron  # noqa: E402
from hostctl.commands import env as _env  # noqa: E402
from hostctl.commands import processes as _processes  # noqa: E402
from hostctl.commands import projects as _projects  # noqa: E402
from hostctl.commands import releases as _releases  # noqa: E402
from hostctl.commands import run as _run  # noqa: E402
from hostctl.commands import top as _top  # noqa: E402
from hostctl.commands import up as _up  # noqa: E402

_auth.register_commands(app)
_projects.register_commands(projects_app)
_env.register_commands(env_app)
_top.register_commands(app)
_releases.register_commands(app)
_up.register_commands(app)
_run.register_commands(app)
_cron.register_commands(app)
_processes.register_commands(app)


def main() -> None:
    # httpx's __init__ imports its own command line (click, rich.progress, pygments:
    # ~25 ms) unless that import fails, and hostctl never uses it. Done here, in the
    # entry point, so importing hostctl as a library changes nothing.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    app(prog_name="hostctl")

"""The `hostd` command: run the daemon, and (later) manage images and templates."""

from __future__ import annotations

import gc
import logging
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from hostd import __version__
from hostd.templates import TEMPLATE_NAMES

if TYPE_CHECKING:
    from hostd.config import Settings  # imported lazily at run time

GRACEFUL_SHUTDOWN_S = 3

app = typer.Typer(
    help="hostd: the daemon of a PaaS that runs on your own machine.",
    no_args_is_help=True, add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hostd {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """hostd owns the state, the users and the Docker engine behind one HTTP API."""


def _fail(message: str) -> NoReturn:
    typer.secho(f"hostd: {message}", fg="red", err=True)
    raise typer.Exit(2)


def _db_reason(exc: Exception, settings: Settings) -> str:
    """The first line of a database error, never the URL's password."""
    from hostd.store import dburl

    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
    return dburl.scrub(reason, dburl.parse(settings.database_uri))


def load_settings(**overrides: object) -> Settings:
    from pydantic import ValidationError as SettingsError

    from hostd.config import Settings, describe_settings_error

    try:
        settings = Settings()
    except SettingsError as exc:
        _fail(describe_settings_error(exc))
    return settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="API port (PORT).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the daemon in the foreground.

    Example: hostd serve --port 3000
    """
    # Settings first: a bad one fails in a fraction of the time the app takes to import.
    settings = load_settings(host=host, port=port)
    import uvicorn

    from hostd import logs
    from hostd.app import create_app
    from hostd.router.fdlimit import raise_open_files_limit

    logs.configure(log_level)  # uvicorn's loggers too: log_config=None below
    # The access log writes a line per request: skip what the format never shows (the
    # caller's frame, thread and process), as the logging HOWTO's "Optimization" says.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # Health checks poll with httpx; one line per poll would drown the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from sqlalchemy.exc import SQLAlchemyError

    from hostd.admin.uninstall import DaemonRunning, hold_daemon_lock
    from hostd.config import InstanceFileError
    from hostd.store.dburl import DatabaseUrlError

    try:
        # Held for the daemon's life: `hostd uninstall` refuses while it is.
        daemon_lock = hold_daemon_lock(settings)  # noqa: F841
        application = create_app(settings)
    except DaemonRunning as exc:
        _fail(str(exc))
    except DatabaseUrlError as exc:
        _fail(f"invalid setting DATABASE_URL: {exc}")
    except InstanceFileError as exc:
        _fail(f"invalid setting HOSTD_INSTANCE: {exc}")
    except OSError as exc:
        _fail(f"invalid setting HOSTD_DATA_DIR: cannot use {settings.data_dir}: "
              f"{exc.strerror or exc}")
    except SQLAlchemyError as exc:
        name = "DATABASE_URL" if settings.database_url else "HOSTD_DATA_DIR"
        _fail(f"invalid setting {name}: cannot open the database: {_db_reason(exc, settings)}")
    raise_open_files_limit()  # router workers inherit it
    # The ~150k objects the app is built of live as long as the daemon: out of the
    # collector's sight, a full collection (every few thousand streams opened and closed)
    # walks what requests made instead of all of them (~100 ms a time, on the event loop).
    gc.freeze()
    uvicorn.run(
        application, host=settings.host, port=settings.port,
        log_level=log_level, access_log=False, proxy_headers=False, log_config=None,
        # Event streams and followed logs never end by themselves: without a bound, a
        # stop would wait for every client to hang up. They reconnect (hostctl top does).
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


def main() -> None:
    app()



@app.command()
def uninstall(
    yes: Annotated[bool, typer.Option("--yes", help="Remove without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Name what would go; remove nothing.")]
    = False,
    bases: Annotated[bool, typer.Option("--bases", help="Also the base images nothing else on "
                                        "the engine is built on.")] = False,
) -> None:
    """Remove every container, network, volume and image this install made (the daemon
    stopped). Its data dir stays; base images stay unless --bases.

    Example: hostd uninstall --dry-run
    """
    from hostd.admin.uninstall import DaemonRunning, NoInstance
    from hostd.admin.uninstall import uninstall as run_uninstall
    from hostd.engine.client import EngineError

    settings = load_settings()
    if not (yes or dry_run or typer.confirm(
            f"Remove everything the install in {settings.data_dir} made on the engine?")):
        _fail("nothing removed (pass --yes to remove without asking)")
    try:
        outcome = run_uninstall(settings, typer.echo, dry_run=dry_run, bases=bases)
    except (DaemonRunning, NoInstance) as exc:
        _fail(str(exc))
    except EngineError as exc:
        typer.secho(f"hostd: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{outcome.instance}: {verb} {len(outcome.removed)}, kept {len(outcome.kept)}"
               + (f", {len(outcome.failed)} refused by the engine" if outcome.failed else "")
               + f"; the data dir {settings.data_dir} stays")
    if outcome.failed:
        raise typer.Exit(1)

images_app = typer.Typer(help="Base images, built locally with no registry.", no_args_is_help=True)
templates_app = typer.Typer(help="The project templates.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts, made by the operator.", no_args_is_help=True)
app.add_typer(images_app, name="images")
app.add_typer(templates_app, name="templates")
app.add_typer(users_app, name="users")


@images_app.command("bootstrap")
def images_bootstrap() -> None:
    """Build the base images (busybox, Debian 13, nginx, Python 3.13, Node.js 22 and 24).

    No container registry: Debian's mirror, and the npm registry for Node.js and npm
    (integrity-checked, cached in the data dir). Takes a few minutes the first time; needs
    root, debootstrap and busybox-static (scripts/ensure-docker installs them). Images
    already present are skipped (a node base: when it has its line's newest release).

    Example: hostd images bootstrap
    """
    from hostd.engine.client import EngineError, connect
    from hostd.engine.images import bootstrap_base_images

    settings = load_settings()
    try:
        client = connect(settings.docker_host)
        built = bootstrap_base_images(client, typer.echo, settings.build_ca_bundle,
                                      node_cache=settings.data_dir / "cache" / "node")
    except EngineError as exc:
        typer.secho(f"hostd: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"built: {', '.join(built)}" if built else "all base images are present")

@images_app.command("prune")
def images_prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Name what would go; remove nothing.")]
    = False,
) -> None:
    """Remove old base images: the tags of hostd's bases that bootstrap no longer makes.

    A base that a kept release (the newest HOSTD_RELEASES_KEPT of each project), any
    project image on the engine or any container is built on is kept and said why.
    Safe while the daemon runs; bootstrap first, so the current bases are there.

    Example: hostd images prune --dry-run
    """
    from sqlalchemy.exc import SQLAlchemyError

    from hostd.admin.base_prune import prune_bases
    from hostd.engine.client import EngineError
    from hostd.store.dburl import DatabaseUrlError

    settings = load_settings()
    try:
        outcome = prune_bases(settings, typer.echo, dry_run=dry_run)
    except DatabaseUrlError as exc:
        _fail(f"invalid setting DATABASE_URL: {exc}")
    except SQLAlchemyError as exc:
        _fail(f"cannot read the database: {_db_reason(exc, settings)}")
    except EngineError as exc:
        typer.secho(f"hostd: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb} {len(outcome.removed)}, kept {len(outcome.kept)} in use"
               + (f", {len(outcome.failed)} refused by the engine" if outcome.failed else ""))
    if outcome.failed:
        raise typer.Exit(1)


TEMPLATES_HELP = ", ".join(TEMPLATE_NAMES[:-1]) + f" or {TEMPLATE_NAMES[-1]}"

@templates_app.command("show")
def templates_show(
    name: Annotated[str, typer.Argument(help=TEMPLATES_HELP)],
) -> None:
    """Print the Dockerfile a template generates for a typical repository.

    Example: hostd templates show flask
    """
    from hostd.source.templates import UnknownTemplate, show_template

    try:
        typer.echo(show_template(name), nl=False)
    except UnknownTemplate as exc:
        typer.secho(f"hostd: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


@templates_app.command("list")
def templates_list() -> None:
    """List the templates.

    Example: hostd templates list
    """
    from hostd.source.templates import template_names

    for name in template_names():
        typer.echo(name)


PASSWORD_READ_MAX = 4096  # characters read from a pipe: far past bcrypt's 72 bytes


def _read_password() -> str:
    """From a prompt (typed twice, not echoed) on a terminal, else stdin's first line:
    never argv, which every local user can read in `ps`."""
    import sys

    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline(PASSWORD_READ_MAX).removesuffix("\n").removesuffix("\r")


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Option(help="The account's email (its login).")],
    name: Annotated[str, typer.Option(help="The person's name.")],
) -> None:
    """Create an account; the password is prompted for, or read from stdin's first line.

    Works with the daemon running or not, on the configured database (DATABASE_URL or
    the data dir's SQLite file); the one way in while HOSTD_REGISTRATION=closed.

    Example: hostd users add --email ada@example.com --name "Ada Lovelace"
    """
    from pydantic import ValidationError as BodyError
    from sqlalchemy.exc import SQLAlchemyError

    from hostd.control.accounts import add_user
    from hostd.errors import Conflict
    from hostd.store.dburl import DatabaseUrlError

    settings = load_settings()
    password = _read_password()
    try:
        user = add_user(settings, email, name, password)
    except BodyError as exc:
        problems = "; ".join(f"{err['loc'][0]} {str(err['msg']).removeprefix('Value error, ')}"
                             for err in exc.errors())
        _fail(f"cannot add the account: {problems}")
    except Conflict as exc:
        _fail(f"cannot add the account: {exc.message}")
    except DatabaseUrlError as exc:
        _fail(f"invalid setting DATABASE_URL: {exc}")
    except SQLAlchemyError as exc:
        _fail(f"cannot use the database: {_db_reason(exc, settings)}")
    typer.echo(f"added {user.email} (id {user.id}, handle {user.handle})")

"""The `hostd` command: run the daemon, and (later) manage images and templates."""

from __future__ import annotations

import logging
from typing import Annotated, NoReturn

import typer

from hostd import __version__

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


def load_settings(**overrides: object):  # noqa: ANN201 - Settings, imported lazily
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
    import uvicorn

    from hostd.app import create_app

    settings = load_settings(host=host, port=port)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from sqlalchemy.exc import SQLAlchemyError

    try:
        application = create_app(settings)
    except OSError as exc:
        _fail(f"invalid setting HOSTD_DATA_DIR: cannot use {settings.data_dir}: "
              f"{exc.strerror or exc}")
    except SQLAlchemyError as exc:
        name = "DATABASE_URL" if settings.database_url else "HOSTD_DATA_DIR"
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        _fail(f"invalid setting {name}: cannot open the database: {reason}")
    uvicorn.run(
        application, host=settings.host, port=settings.port,
        log_level=log_level, access_log=False, proxy_headers=False,
    )


def main() -> None:
    app()

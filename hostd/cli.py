"""The `hostd` command: run the daemon, and (later) manage images and templates."""

from __future__ import annotations

import logging
from typing import Annotated

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


def load_settings(**overrides: object):  # noqa: ANN201 - Settings, imported lazily
    from pydantic import ValidationError as SettingsError

    from hostd.config import Settings, describe_settings_error

    try:
        settings = Settings()
    except SettingsError as exc:
        typer.secho(f"hostd: {describe_settings_error(exc)}", fg="red", err=True)
        raise typer.Exit(2) from None
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
    application = create_app(settings)
    uvicorn.run(
        application, host=settings.host, port=settings.port,
        log_level=log_level, access_log=False, proxy_headers=False,
    )


def main() -> None:
    app()

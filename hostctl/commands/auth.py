"""register, login, whoami, logout (--all), password."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hostctl.commands import common
from hostctl.commands.common import JsonOpt, read_password_stdin, state
from hostctl.errors import HostctlError, Unauthorized

if TYPE_CHECKING:
    from hostctl.client import User

EmailOpt = Annotated[str | None, typer.Option("--email", help="Your email (prompted if absent).")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Your name (prompted if absent).")]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]
EverywhereOpt = Annotated[bool, typer.Option(
    "--all", help="Revoke every token of your account (every machine, every session).")]


def register(
    ctx: typer.Context,
    email: EmailOpt = None,
    name: NameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Create an account on hostd and log in with it.

    \b
    Example:
        hostctl register
        echo "$PW" | hostctl register --email a@b.c --name Alice --password-stdin
    """
    email = email or typer.prompt("Email")
    name = name or typer.prompt("Name")
    if password_stdin:
        password = read_password_stdin()
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    result = state(ctx).client(authenticated=False).register(email, password, name)
    _store_and_report(ctx, result["user"], result["token"], json_output, verb="Registered")


def login(
    ctx: typer.Context,
    email: EmailOpt = None,
    password_stdin: PasswordStdinOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Log in; the token goes to the OS keyring (or a 0600 file where there is none).

    \b
    Example:
        hostctl login --email alice@example.com
        echo "$PW" | hostctl login --email alice@example.com --password-stdin
    """
    email = email or typer.prompt("Email")
    if password_stdin:
        password = read_password_stdin()
    else:
        password = typer.prompt("Password", hide_input=True)
    result = state(ctx).client(authenticated=False).login(email, password)
    _store_and_report(ctx, result["user"], result["token"], json_output, verb="Logged in")


def _store_and_report(
    ctx: typer.Context, user: User, token: str, json_output: bool, *, verb: str
) -> None:
    app_ctx = state(ctx)
    where = app_ctx.tokens.save(token)
    if json_output:
        from hostctl.output import write_json

        write_json({"user": user, "api_url": app_ctx.api_url, "token_store": where})
        return
    app_ctx.out.print(f"{verb} as {user['email']} ({user['handle']}) at {app_ctx.api_url}",
                      markup=False)


def whoami(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """Show who you are logged in as, and where.

    \b
    Example:
        hostctl whoami --json
    """
    app_ctx = state(ctx)
    user = app_ctx.client().me()
    if json_output:
        from hostctl.output import write_json

        write_json({"user": user, "api_url": app_ctx.api_url})
        return
    app_ctx.out.print(f"{user['email']} ({user['name']}, @{user['handle']}) at {app_ctx.api_url}",
                      markup=False)


def logout(ctx: typer.Context, everywhere: EverywhereOpt = False,
           json_output: JsonOpt = False) -> None:
    """Revoke the token on hostd and remove it from this machine.

    With --all, every token of your account is revoked, wherever it was used (a lost
    laptop, a leaked CI secret); open streams (logs -f, top) end within seconds.

    \b
    Example:
        hostctl logout
        hostctl logout --all
    """
    app_ctx = state(ctx)
    if not app_ctx.tokens.get():
        app_ctx.out.print(f"Not logged in to {app_ctx.api_url}", markup=False)
        return
    revoke_error: HostctlError | None = None
    try:
        if everywhere:
            app_ctx.client().logout_all()
        else:
            app_ctx.client().logout()
    except Unauthorized:
        pass  # already expired or revoked: removing it locally is all that is left
    except HostctlError as exc:
        revoke_error = exc  # remove it here anyway, then still report the failure
    app_ctx.tokens.delete()
    if revoke_error is not None:
        raise revoke_error
    where = " everywhere: every token of your account is revoked" if everywhere else ""
    if json_output:
        from hostctl.output import write_json

        write_json({"message": f"logged out{where}", "api_url": app_ctx.api_url})
        return
    app_ctx.out.print(f"Logged out of {app_ctx.api_url}{where}", markup=False)
    if app_ctx.environ.get("HOSTCTL_TOKEN"):
        app_ctx.warn("HOSTCTL_TOKEN is still set in your environment")


def password(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """Change your password; every other token of your account is revoked, this one stays.

    Asks for the current password, then the new one twice (hidden). With stdin not a
    terminal, reads the current password from its first line and the new from its second.

    \b
    Example:
        hostctl password
        printf '%s\\n%s\\n' "$OLD" "$NEW" | hostctl password
    """
    if common.stdin_is_terminal():
        current = typer.prompt("Current password", hide_input=True)
        new = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        current, new = common.read_lines_stdin("current password", "new password")
    app_ctx = state(ctx)
    message = app_ctx.client().change_password(current, new)
    if json_output:
        from hostctl.output import write_json

        write_json({"message": message, "api_url": app_ctx.api_url})
        return
    app_ctx.out.print("Password changed: you stay logged in here; every other token of "
                      "your account is revoked", markup=False)


def register_commands(app: typer.Typer) -> None:
    app.command()(register)
    app.command()(login)
    app.command()(whoami)
    app.command()(logout)
    app.command()(password)

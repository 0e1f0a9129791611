"""The `projects` noun: list, show, create, set, deploy, start/stop/restart, status, logs,
delete."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from hostctl.commands.common import JsonOpt, ProjectArg, state
from hostctl.errors import ApiError, HostctlError, InvalidArgument, NotFound
from hostctl.output import DEFAULT_HEALTH_PATH  # output.py imports nothing heavy itself
from hostd.templates import Template

if TYPE_CHECKING:
    from hostctl.client import HostdClient, LogSource, Project
    from hostctl.context import AppContext


NoWaitOpt = Annotated[bool, typer.Option("--no-wait", help="Return at once; don't wait.")]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the deploy.", min=1)
]
FollowOpt = Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")]
LinesOpt = Annotated[int, typer.Option("--lines", "-n", help="How many recent lines.", min=0)]
HealthPathOpt = Annotated[str | None, typer.Option(
    "--health-path", metavar="PATH", show_default=False,
    help="What hostd GETs to call a new container healthy (any answer below 500 is; "
         "default /).")]


def list_projects(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """List your projects with their status and metrics.

    \b
    Example:
        hostctl projects list --json
    """
    app_ctx = state(ctx)
    projects = app_ctx.client().list_projects()
    if json_output:
        from hostctl.output import write_json

        write_json({"projects": projects})
        return
    if not projects:
        app_ctx.out.print("No projects yet: hostctl projects create NAME --repo URL")
        return
    from hostctl.output import projects_table

    app_ctx.show(projects_table(projects))


def show(ctx: typer.Context, project: ProjectArg, json_output: JsonOpt = False) -> None:
    """Show one project in detail, with its latest deployment.

    \b
    Example:
        hostctl projects show shop
    """
    app_ctx = state(ctx)
    client = app_ctx.client()
    found = client.find_project(project)
    if json_output:
        from hostctl.output import write_json

        write_json({"project": found})
        return
    from hostctl.output import project_details

    try:
        deployments = client.deployments(found["id"])
    except NotFound:
        deployments = None  # a daemon without the deployments route
    try:
        formation: dict[str, int] | None = client.formation(found["id"])
    except NotFound:
        formation = None  # a daemon without process types
    app_ctx.show(project_details(found, deployments, formation))


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Project name: lowercase, digits, dashes.")],
    repo: Annotated[str, typer.Option("--repo", help="Git repository URL to deploy.")],
    template: Annotated[Template, typer.Option("--template", help="How to build it.")] = (
        Template("static")
    ),
    env: Annotated[list[str] | None, typer.Option(
        "--env", help="A config var for the first deploy, KEY=VALUE (repeat for more).",
        metavar="KEY=VALUE", show_default=False)] = None,
    health_path: HealthPathOpt = None,
    scale: Annotated[list[str] | None, typer.Option(
        "--scale", help="The first formation of a process type, TYPE=N (repeat for more; "
        "default web=1, others 0).", metavar="TYPE=N", show_default=False)] = None,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = 600.0,
    json_output: JsonOpt = False,
) -> None:
    """Create a project from a git repository and wait until it runs.

    \b
    Example:
        hostctl projects create shop --repo https://github.com/alice/shop --template flask
        hostctl projects create api --repo https://github.com/alice/api --template nodejs \\
            --env DATABASE_URL=postgres://db/api --env DEBUG=0 --health-path /healthz
        hostctl projects create jobs --repo https://github.com/alice/jobs --scale worker=1
    """
    from hostctl.commands.env import parse_assignments
    from hostctl.commands.processes import parse_quantities

    config = parse_assignments(env or [])  # refused here, before the project exists
    formation = parse_quantities(scale or [])
    app_ctx = state(ctx)
    client = app_ctx.client()
    project = client.create_project(name, repo, template.value, config, health_path,
                                    formation)
    if health_path is not None and "health_path" not in project:
        # A daemon from before health paths drops the field without a word: say so, or the
        # user believes deploys wait for a path hostd never asks for.
        app_ctx.warn(f"this hostd ignores --health-path (it predates it): it checks "
                     f"{DEFAULT_HEALTH_PATH}")
    finish_deploy(ctx, client, project, no_wait=no_wait, timeout=timeout, json_output=json_output)


def set_settings(
    ctx: typer.Context,
    project: ProjectArg,
    health_path: HealthPathOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Change a project's settings; they apply from its next deploy or change.

    Nothing restarts. hostd GETs the health path whenever it starts the app (a deploy,
    a config change, a start or restart, a rollback) to know it is up: any answer below
    500 is.

    \b
    Example:
        hostctl projects set shop --health-path /healthz
    """
    if health_path is None:
        # A usage mistake (exit 2, with the usage line), not bad content: nothing was given.
        ctx.fail("nothing to change: give --health-path PATH")
    app_ctx = state(ctx)
    client = app_ctx.client()
    found = client.find_project(project)
    before = found.get("health_path", DEFAULT_HEALTH_PATH)
    try:
        updated = client.patch_project(found["id"], {"health_path": health_path})
    except ApiError as exc:
        if exc.status_code != 405:
            raise
        # The route exists for GET and DELETE, so an older daemon answers 405, not 404.
        raise HostctlError("this hostd cannot change a project's settings: upgrade it "
                           f"({exc.message})") from None
    after = updated.get("health_path", health_path)
    if before == after:
        message = f"{updated['name']}: health path is already {after}"
    else:
        message = f"{updated['name']}: health path {before} → {after}"
    app_ctx.reply(json_output, {"project": updated}, message)  # terminal-safe, no markup


def deploy(
    ctx: typer.Context,
    project: ProjectArg,
    no_wait: NoWaitOpt = False,
    timeout: TimeoutOpt = 600.0,
    json_output: JsonOpt = False,
) -> None:
    """Redeploy the latest commit of a project.

    \b
    Example:
        hostctl projects deploy shop
    """
    client = state(ctx).client()
    started = client.deploy(client.find_project(project)["id"])
    finish_deploy(ctx, client, started, no_wait=no_wait, timeout=timeout, json_output=json_output)


def finish_deploy(
    ctx: typer.Context, client: HostdClient, project: Project, *,
    no_wait: bool, timeout: float, json_output: bool,
) -> None:
    app_ctx = state(ctx)
    if not no_wait:
        project = wait_with_spinner(app_ctx, client, project, timeout, quiet=json_output)
    if json_output:
        from hostctl.output import write_json

        write_json({"project": project})
    elif project["status"] == "running":
        app_ctx.out.print(f"[green]✓[/] {project['name']} running at {project['url']}")
    else:
        app_ctx.out.print(f"{project['name']}: {project['status']} ({project['url']})",
                          markup=False)


def wait_with_spinner(
    app_ctx: AppContext, client: HostdClient, project: Project, timeout: float, *, quiet: bool
) -> Project:
    from hostctl.waiting import wait_for_deploy

    if quiet or not app_ctx.err.is_terminal:
        return wait_for_deploy(client, project["id"], lambda step: None, timeout_s=timeout)
    with app_ctx.err.status(f"{project['name']}: deploying…") as spinner:
        def show_step(step: str) -> None:
            spinner.update(f"{project['name']}: {step}…")

        return wait_for_deploy(client, project["id"], show_step, timeout_s=timeout)


def _container_action(ctx: typer.Context, project: str, action: str, json_output: bool) -> None:
    app_ctx = state(ctx)
    client = app_ctx.client()
    message = client.container_action(client.find_project(project)["id"], action)  # type: ignore[arg-type]
    app_ctx.reply(json_output, {"message": message}, message)


def start(ctx: typer.Context, project: ProjectArg, json_output: JsonOpt = False) -> None:
    """Start a stopped project's container.

    \b
    Example:
        hostctl projects start shop
    """
    _container_action(ctx, project, "start", json_output)


def stop(ctx: typer.Context, project: ProjectArg, json_output: JsonOpt = False) -> None:
    """Stop a project's container (it keeps its image and data).

    \b
    Example:
        hostctl projects stop shop
    """
    _container_action(ctx, project, "stop", json_output)


def restart(ctx: typer.Context, project: ProjectArg, json_output: JsonOpt = False) -> None:
    """Restart a project's container.

    \b
    Example:
        hostctl projects restart shop
    """
    _container_action(ctx, project, "restart", json_output)


def status(ctx: typer.Context, project: ProjectArg, json_output: JsonOpt = False) -> None:
    """Show the live status of a project's container.

    \b
    Example:
        hostctl projects status shop --json
    """
    app_ctx = state(ctx)
    client = app_ctx.client()
    found = client.find_project(project)
    container_status = client.container_status(found["id"])
    app_ctx.reply(json_output, {"status": container_status},
                  f"{found['name']}: {container_status}")


def logs(
    ctx: typer.Context,
    project: ProjectArg,
    build: Annotated[bool, typer.Option("--build", help="The build log, not the app's.")] = False,
    follow: FollowOpt = False,
    lines: LinesOpt = 100,
    process: Annotated[str | None, typer.Option(
        "--process", "-p", help="Only this process type or replica: worker, web.2.")] = None,
    json_output: JsonOpt = False,
    raw: Annotated[bool, typer.Option(
        "--raw", help="Keep the app's control characters and escape sequences, even on a "
                      "terminal (piped output keeps them anyway).")] = False,
) -> None:
    """Print a project's runtime (or build) log: every process's lines, each after its
    process (web.1, worker.1); `lines` of each.

    \b
    Example:
        hostctl projects logs shop -f -n 20
        hostctl projects logs shop --process worker
        hostctl projects logs shop --build
    """
    app_ctx = state(ctx)
    client = app_ctx.client()
    project_id = client.find_project(project)["id"]
    source: LogSource = "build" if build else "runtime"
    if build and process:
        raise InvalidArgument("--process reads the runtime log: leave out --build")
    from hostctl.output import terminal_safe, write_json

    # The app writes these lines: on a terminal its control characters are shown, not
    # obeyed (unless --raw); piped, the lines pass as they are.
    shown = terminal_safe if sys.stdout.isatty() and not raw else str

    def line_of(mark: str | None, line: str) -> str:
        return shown(line) if mark is None else f"{shown(mark)} | {shown(line)}"

    if follow:
        for mark, line in client.follow_marked_logs(project_id, source=source, tail=lines,
                                                    process=process):
            if json_output:
                write_json({"line": line} if mark is None else {"line": line, "process": mark})
            else:
                print(line_of(mark, line), flush=True)
        return
    marked = client.marked_logs(project_id, source=source, tail=lines, process=process)
    if json_output:
        body: dict[str, object] = {"lines": [line for _, line in marked], "source": source}
        if any(mark is not None for mark, _ in marked):
            body["processes"] = [mark for mark, _ in marked]
        write_json(body)
        return
    for mark, line in marked:
        print(line_of(mark, line))


def delete(
    ctx: typer.Context,
    project: ProjectArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Don't ask for confirmation.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Delete a project, its container and its image.

    \b
    Example:
        hostctl projects delete shop --yes
    """
    app_ctx = state(ctx)
    client = app_ctx.client()
    found = client.find_project(project)
    if not yes:
        typer.confirm(f"Delete {found['name']} and its container and image?", abort=True)
    message = client.delete_project(found["id"])
    app_ctx.reply(json_output, {"message": message}, message)


def register_commands(app: typer.Typer) -> None:
    app.command("list")(list_projects)
    app.command()(show)
    app.command()(create)
    app.command("set")(set_settings)
    app.command()(deploy)
    app.command()(start)
    app.command()(stop)
    app.command()(restart)
    app.command()(status)
    app.command()(logs)
    app.command()(delete)

"""`hostctl up`: deploy the code in a directory as it is now, no git remote needed."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hostctl.commands.common import JsonOpt, state
from hostctl.commands.projects import TimeoutOpt, finish_deploy
from hostctl.errors import HostctlError, InvalidArgument
from hostd.templates import Template

if TYPE_CHECKING:
    from hostctl.client import HostdClient, Project
    from hostctl.context import AppContext
    from hostctl.pack import Packed
    from hostctl.uploading import SourceUpload

PathArg = Annotated[Path, typer.Argument(
    help="The directory to deploy (a git checkout or a plain directory).",
    file_okay=False, show_default="the current directory")]
NameOpt = Annotated[str | None, typer.Option(
    "--name", help="Project name (default: the directory's name, made a DNS label).",
    show_default=False)]
TemplateOpt = Annotated[Template | None, typer.Option(
    "--template", help="How to build it (default: detected from the files).",
    show_default=False)]
DetachOpt = Annotated[bool, typer.Option(
    "--detach", help="Return once uploaded; don't wait for the deploy.")]
ScaleOpt = Annotated[list[str] | None, typer.Option(
    "--scale", help="A new project's first formation of a process type, TYPE=N (repeat "
    "for more); later, `hostctl scale`.", metavar="TYPE=N", show_default=False)]


def up(
    ctx: typer.Context,
    path: PathArg = Path("."),
    name: NameOpt = None,
    template: TemplateOpt = None,
    detach: DetachOpt = False,
    scale: ScaleOpt = None,
    timeout: TimeoutOpt = 600.0,
    json_output: JsonOpt = False,
) -> None:
    """Deploy the code in a directory as it is now (uncommitted changes included).

    Ignored: .git, .gitignore'd files, what .hostdignore lists (gitignore syntax),
    node_modules, __pycache__ and .venv. The project is created on the first run;
    later runs deploy the new code to it, and the same code again changes nothing.

    \b
    Example:
        hostctl up
        hostctl up ./site --name blog --template static
        hostctl up --scale worker=1
    """
    root = path.expanduser().resolve()
    if not root.is_dir():
        raise InvalidArgument(f"{path} is not a directory")
    project_name = name or default_name(root)
    _check_name(project_name, given=name is not None)
    from hostctl.commands.processes import parse_quantities

    formation = parse_quantities(scale or [])
    app_ctx = state(ctx)
    chosen = template.value if template is not None else _detected(app_ctx, root, json_output)
    client = app_ctx.client()
    with tempfile.TemporaryDirectory(prefix="hostctl-up-") as tmp:
        packed = _pack(root, Path(tmp) / "source.tar.gz")
        project = _project(app_ctx, client, project_name, chosen, template is not None,
                           formation)
        sent = _send(app_ctx, client, project, packed, quiet=json_output)
    if sent["unchanged"]:
        done = sent["project"]
        app_ctx.reply(json_output, {"project": done, "unchanged": True},
                      f"{done['name']}: unchanged, nothing to deploy ({done['url']})")
        return
    finish_deploy(ctx, client, sent["project"], no_wait=detach, timeout=timeout,
                  json_output=json_output)


def default_name(root: Path) -> str:
    """`My App_2` → `my-app-2`: the directory's name as a project name (a DNS label)."""
    label = re.sub(r"[^a-z0-9]+", "-", root.name.lower()).strip("-")
    return label[:40].strip("-")


def _check_name(name: str, *, given: bool) -> None:
    from hostd.store.validation import check_project_name

    try:
        check_project_name(name)
    except ValueError as exc:
        hint = "" if given else " (made from the directory's name: give one with --name)"
        raise InvalidArgument(f"project name {name!r} {exc}{hint}") from None


def _detected(app_ctx: AppContext, root: Path, quiet: bool) -> str:
    from hostctl.detect import DetectError, detect, directory_reader

    try:
        found = detect(directory_reader(root))
    except DetectError as exc:
        raise InvalidArgument(str(exc)) from None
    if not quiet:
        app_ctx.err.print(f"template: {found.template} ({found.why})", markup=False)
    return found.template


def _pack(root: Path, out: Path) -> Packed:
    from hostctl.pack import PackError, pack

    try:
        return pack(root, out)
    except PackError as exc:
        raise HostctlError(str(exc)) from None


def _project(app_ctx: AppContext, client: HostdClient, name: str, template: str,
             template_given: bool, formation: dict[str, int]) -> Project:
    """The caller's project `name`, created (waiting for its upload) when there is none."""
    existing = next((p for p in client.list_projects() if p["name"] == name), None)
    if existing is None:
        return client.create_upload_project(name, template, formation)
    if formation:
        app_ctx.warn(f"{name} keeps its formation (--scale applies to a new project only: "
                     f"hostctl scale {name} changes it)")
    if template_given and existing["template"] != template:
        app_ctx.warn(f"{name} keeps its template {existing['template']} (--template applies "
                     "to a new project only)")
    return existing


def _send(app_ctx: AppContext, client: HostdClient, project: Project, packed: Packed, *,
          quiet: bool) -> SourceUpload:
    if quiet or not app_ctx.err.is_terminal:
        return client.upload_source(project["id"], packed.path)
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn())
    with Progress(*columns, console=app_ctx.err, transient=True) as progress:
        task = progress.add_task(f"{project['name']}: uploading {packed.files} files",
                                 total=packed.size)
        return client.upload_source(project["id"], packed.path,
                                    lambda sent: progress.advance(task, sent))


def register_commands(app: typer.Typer) -> None:
    app.command()(up)

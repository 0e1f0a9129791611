"""Pure renderers for projects, and the one JSON writer every `--json` goes through.

rich is imported by the renderers, not here: `--json` and plain log lines never need it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

    from hostctl.client import Deployment, LastExit, Project

UNBOUNDED_WIDTH = 1 << 24  # wider than anything hostd can send
STATUS_STYLES = {
    "running": "green",
    "stopped": "dim",
    "deploying": "yellow",
    "error": "red",
}
# The desired status each observed one implies; "error" implies neither, so it never matches.
IMPLIED_DESIRED = {"running": "running", "deploying": "running", "stopped": "stopped"}


def write_json(payload: Any) -> None:
    """One compact JSON document per line: a whole object, or one line of an NDJSON stream."""
    # Not through rich: it would wrap long lines and colour keys.
    sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def print_unfolded(console: Console, renderable: RenderableType) -> None:
    """Print at the renderable's natural width, however wide, without trailing padding.

    For piped output, where a 32 KiB config value must stay one line (PIPE_WIDTH is not
    enough) and a table must not pad every row to its longest value with spaces.
    """
    unbounded = console.options.update_width(UNBOUNDED_WIDTH)
    console.width = max(console.width, console.measure(renderable, options=unbounded).maximum)
    with console.capture() as captured:
        console.print(renderable)
    lines = [line.rstrip() for line in captured.get().splitlines()]
    console.out("\n".join(lines), highlight=False)


def status_text(status: str) -> Text:
    from rich.text import Text

    return Text(status, style=STATUS_STYLES.get(status, ""))


def format_cpu(cpu: float | None) -> str:
    return "-" if cpu is None else f"{cpu:.1f}%"


def format_memory(memory_mb: float | None) -> str:
    return "-" if memory_mb is None else f"{memory_mb:.1f} MB"


def format_last_exit(last_exit: LastExit | None) -> str:
    """'exit code 1 at …', 'SIGKILL (exit code 137) at …', 'out of memory (…) at …', or '-'."""
    if not last_exit:
        return "-"
    code = last_exit.get("code")
    code_text = None if code is None else f"exit code {code}"
    # An OOM kill is a SIGKILL too: the cause people need to know is the memory.
    cause = "out of memory" if last_exit.get("oom_killed") else last_exit.get("signal")
    what = f"{cause} ({code_text})" if cause and code_text else cause or code_text or "exited"
    at = last_exit.get("at")
    return f"{what} at {at}" if at else what


def desired_mismatch(project: Project) -> str | None:
    """The desired status when the observed one does not already say it, else None."""
    desired = project.get("desired_status")
    if desired is None or IMPLIED_DESIRED.get(project["status"]) == desired:
        return None
    return desired


def projects_table(projects: Iterable[Project]) -> Table:
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("NAME", "STATUS", "TEMPLATE"):
        table.add_column(column, no_wrap=True)
    for column in ("CPU", "MEM", "REQUESTS"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("URL", overflow="fold")
    for project in projects:
        metrics = project.get("metrics") or {"cpu": 0.0, "memory": 0.0, "requests": 0}
        table.add_row(
            project["name"],
            status_text(project["status"]),
            project["template"],
            format_cpu(metrics["cpu"]),
            format_memory(metrics["memory"]),
            str(metrics["requests"]),
            project["url"],
        )
    return table


def project_details(project: Project, deployments: list[Deployment] | None = None) -> Table:
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    metrics = project["metrics"]
    rows: list[tuple[str, str | Text]] = [
        ("name", project["name"]),
        ("id", project["id"]),
        ("status", status_text(project["status"])),
        ("reason", project.get("status_reason") or "-"),
        ("url", project["url"]),
        ("template", project["template"]),
        ("repository", project["github_url"]),
        ("created", project["created_at"]),
        ("cpu", format_cpu(metrics["cpu"])),
        ("memory", format_memory(metrics["memory"])),
        ("requests", str(metrics["requests"])),
        ("restarts", str(project.get("restarts", 0))),
        ("last exit", format_last_exit(project.get("last_exit"))),
    ]
    desired = desired_mismatch(project)
    if desired is not None:
        # Right under status, so "error, but hostd still means to run it" reads as one thought;
        # unstyled, so a green "running" is never taken for the observed status.
        rows.insert(3, ("desired", desired))
    if deployments:
        latest = deployments[0]
        summary = f"{latest['status']} {latest.get('commit') or ''}".strip()
        rows.append(("last deploy", f"{summary} ({len(deployments)} in all)"))
    for label, value in rows:
        table.add_row(label, value)
    return table


def env_table(env: Mapping[str, str]) -> Table:
    """KEY / VALUE rows in the order given (hostd sends them sorted); values never cut."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("KEY", no_wrap=True)
    table.add_column("VALUE", overflow="fold")
    for key, value in env.items():
        table.add_row(key, Text(value))  # Text, so a value like "[red]x" is data, not markup
    return table

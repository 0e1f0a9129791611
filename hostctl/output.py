"""Pure renderers (projects, releases), and the one JSON writer every `--json` goes through.

rich is imported by the renderers, not here: `--json` and plain log lines never need it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

    from hostctl.client import (
        CronJob,
        CronRun,
        Deployment,
        LastDeploy,
        LastExit,
        ProcessInfo,
        Project,
        Release,
    )

UNBOUNDED_WIDTH = 1 << 24  # wider than anything hostd can send
STATUS_STYLES = {
    "running": "green",
    "stopped": "dim",
    "deploying": "yellow",
    "error": "red",
    "crashed": "red",  # a replica's (hostctl ps)
    "starting": "yellow",
}
# The desired status each observed one implies; "error" implies neither, so it never matches.
IMPLIED_DESIRED = {"running": "running", "deploying": "running", "stopped": "stopped"}
SHORT_COMMIT = 7  # as git abbreviates
# What hostd GETs when a project names no health path, and all a daemon before them checks.
DEFAULT_HEALTH_PATH = "/"


# C0 and C1 controls but tab and newline: an app's log line or a quoted build line could
# otherwise move the cursor, retitle the window or write the clipboard (OSC 52).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """`text` with every control character shown as `\\xNN`, never sent raw."""
    return _CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


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


def format_release(version: int | None) -> str:
    """'v3', or '-' for none yet (or a daemon that does not say)."""
    return "-" if version is None else f"v{version}"


def format_source(project: Project) -> str:
    """The repository, or for an upload project which archive it runs."""
    if project.get("source") != "upload":
        return project["github_url"]
    digest = project.get("upload_digest")
    return f"uploaded source (sha256 {digest[:12]}…)" if digest else "uploaded source (none yet)"


def format_last_deploy(last: LastDeploy | None) -> Text:
    """'succeeded', 'failed: <reason>' (Text: a reason may quote a build's output), '-'."""
    from rich.text import Text

    if not last:
        return Text("-")
    reason = last.get("reason")
    return Text(terminal_safe(f"{last['status']}: {reason}" if reason else last["status"]))


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


def format_processes(replicas: Mapping[str, int] | None) -> Text:
    """`web 3 · worker 1`, web first; `-` when the daemon does not say."""
    from rich.text import Text

    if not replicas:
        return Text("-")
    ordered = sorted(replicas.items(), key=lambda item: (item[0] != "web", item[0]))
    # Text, and escaped: the type names come from the app's Procfile.
    return Text(terminal_safe(" · ".join(f"{name} {count}" for name, count in ordered)))


def project_details(project: Project, deployments: list[Deployment] | None = None,
                    formation: Mapping[str, int] | None = None) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    metrics = project["metrics"]
    rows: list[tuple[str, str | Text]] = [
        ("name", project["name"]),
        ("id", project["id"]),
        ("status", status_text(project["status"])),
        # Text, so a reason quoting a build's output ("[/]", "[red]") is data, not markup.
        ("reason", Text(terminal_safe(project.get("status_reason") or "-"))),
        ("url", project["url"]),
        ("template", project["template"]),
        ("repository", format_source(project)),
        ("last deploy", format_last_deploy(project.get("last_deploy"))),
        # Text: a path like "/[x]" is data, not markup.
        ("health path", Text(terminal_safe(project.get("health_path") or DEFAULT_HEALTH_PATH))),
        ("release", format_release(project.get("release"))),
        ("processes", format_processes(formation)),
        ("created", project["created_at"]),
        ("cpu", format_cpu(metrics["cpu"])),
        ("memory", format_memory(metrics["memory"])),
        ("requests", str(metrics["requests"])),
        ("restarts", str(project.get("restarts", 0))),
        ("last exit", format_last_exit(project.get("last_exit"))),
    ]
    jobs = project.get("cron")
    failing = jobs["failing"] if jobs else []
    if failing:  # a job that fails is never silent (issue 26)
        rows.append(("cron", Text(terminal_safe(f"failing: {', '.join(failing)} "
                                                f"(hostctl cron {project['name']})"),
                                  style="red")))
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
        # Text, so a value like "[red]x" is data, not markup; controls shown, not obeyed.
        table.add_row(key, Text(terminal_safe(value)))
    return table


def releases_table(releases: Iterable[Release]) -> Table:
    """VERSION / CAUSE / COMMIT / CREATED, newest first as hostd sends them; `v3 *` is current."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("VERSION", no_wrap=True)
    table.add_column("CAUSE", overflow="fold")
    table.add_column("COMMIT", no_wrap=True)
    table.add_column("CREATED", no_wrap=True)
    for release in releases:
        current = release.get("current", False)
        version = format_release(release["version"]) + (" *" if current else "")
        commit = release.get("commit")
        # Text throughout: what hostd sends is data, never markup.
        table.add_row(
            Text(version, style="bold green" if current else ""),
            Text(terminal_safe(release.get("cause") or "-")),
            Text(commit[:SHORT_COMMIT] if commit else "-"),
            Text(release.get("created_at") or "-"),
        )
    return table


RUN_STYLES = {"ok": "green", "failed": "red", "killed": "red", "running": "yellow",
              "skipped": "dim", "missed": "yellow"}


def format_run(run: CronRun | None) -> Text:
    """`ok (exit 0) 2026-12-07T23:59:00.000Z`, `failed (exit 2) …`, `-` before the first."""
    from rich.text import Text

    if run is None:
        return Text("-")
    status = run["status"]
    exit_code = run.get("exit_code")
    shown = status if exit_code is None else f"{status} (exit {exit_code})"
    text = Text(terminal_safe(shown), style=RUN_STYLES.get(status, ""))
    text.append(" " + terminal_safe(run.get("started_at") or run["scheduled_for"]))
    return text


def cron_table(jobs: Iterable[CronJob]) -> Table:
    """ID / SCHEDULE / COMMAND / LAST RUN / NEXT RUN, one row per job."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("ID", no_wrap=True)
    table.add_column("SCHEDULE", no_wrap=True)
    table.add_column("COMMAND", overflow="fold")
    table.add_column("LAST RUN", no_wrap=True)
    table.add_column("NEXT RUN", no_wrap=True)
    for job in jobs:
        policy = job.get("concurrency_policy", "allow")
        marks = ([] if policy == "allow" else [policy]) + \
            (["maintenance"] if job.get("maintenance") else [])
        command = job["command"] + "".join(f"  [{mark}]" for mark in marks)
        # Text throughout: a command is the repository's, data and never markup.
        table.add_row(Text(terminal_safe(job["id"])), Text(terminal_safe(job["schedule"])),
                      Text(terminal_safe(command)), format_run(job.get("last_run")),
                      Text(terminal_safe(job.get("next_run") or "-")))
    return table


def format_uptime(seconds: float | None) -> str:
    """'45s', '12m', '3h', '2d'; '-' when it does not run."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def processes_table(processes: Iterable[ProcessInfo]) -> Table:
    """PROCESS / STATE / RESTARTS / CPU / MEMORY / UPTIME / RELEASE, one row a replica."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("PROCESS", "STATE", "RESTARTS", "CPU", "MEMORY", "UPTIME", "RELEASE"):
        table.add_column(name, no_wrap=True)
    for process in processes:
        # Text throughout: a process type is the Procfile's, data and never markup.
        table.add_row(
            Text(terminal_safe(process["name"])),
            status_text(terminal_safe(process["state"])),
            Text(str(process["restarts"])),
            Text(format_cpu(process.get("cpu"))),
            Text(format_memory(process.get("memory"))),
            Text(format_uptime(process.get("uptime_s"))),
            Text(format_release(process.get("release"))),
        )
    return table

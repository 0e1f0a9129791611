"""`hostctl top`: the state kept from the event stream, a pure renderer, and the stream follower.

The follower reconnects with backoff when the stream drops or the daemon restarts,
resuming with Last-Event-ID; the Live loop in cli.py only redraws `render_top`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from rich.table import Table
from rich.text import Text

from hostctl.errors import DaemonUnreachable, RateLimited, ServerError
from hostctl.output import (
    format_cpu,
    format_memory,
    format_processes,
    format_release,
    status_text,
)

if TYPE_CHECKING:
    from hostctl.client import HostdClient, Project, ServerEvent

SortKey = Literal["cpu", "mem", "req", "name"]
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
HISTORY = 12
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0


@dataclass
class Row:
    project_id: str
    name: str
    status: str = "unknown"
    url: str = ""
    cpu_history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    memory: float | None = None
    requests: int | None = None
    requests_per_s: float | None = None
    sampled_at: float | None = None
    restarts: int | None = None  # crash restarts; None when the daemon does not report them
    release: int | None = None  # the current release's version; None: none yet, or not reported
    processes: dict[str, int] | None = None  # replicas by process type; None: not reported

    @property
    def cpu(self) -> float | None:
        return self.cpu_history[-1] if self.cpu_history else None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.project_id, "name": self.name, "status": self.status, "url": self.url,
            "cpu": self.cpu, "memory": self.memory, "requests": self.requests,
            "requests_per_s": self.requests_per_s, "restarts": self.restarts,
            "release": self.release, "processes": self.processes,
        }


@dataclass
class TopState:
    rows: dict[str, Row] = field(default_factory=dict)
    connection: str = "connecting"
    last_event_id: str | None = None

    def load_projects(self, projects: Iterable[Project]) -> None:
        """Take what the project list says (names, statuses, URLs, restarts, releases); keep
        the samples."""
        fresh: dict[str, Row] = {}
        for project in projects:
            row = self.rows.get(project["id"]) or Row(project["id"], project["name"])
            row.name, row.status, row.url = project["name"], project["status"], project["url"]
            row.restarts = project.get("restarts")
            row.release = project.get("release")
            metrics = project.get("metrics")
            if metrics and not row.cpu_history:
                row.cpu_history.append(metrics["cpu"])
                row.memory, row.requests = metrics["memory"], metrics["requests"]
            if metrics and row.processes is None:
                row.processes = replicas_by_type(metrics)
            fresh[project["id"]] = row
        self.rows = fresh

    def apply(self, event: ServerEvent, now: float) -> bool:
        """Fold one event into the rows; True when it names a project we do not know yet."""
        if event.id:
            self.last_event_id = event.id
        data = event.data if isinstance(event.data, dict) else {}
        row = self.rows.get(str(data.get("projectId")))
        if event.event == "metrics_updated":
            if row is None:
                return True
            _record_sample(row, data.get("metrics") or {}, now)
        elif event.event == "status_changed":
            if row is None:
                return True
            row.status = str(data.get("status", row.status))
            # Older daemons send no count or release: keep what the project list said.
            restarts, release = data.get("restarts"), data.get("release")
            if _is_int(restarts):
                row.restarts = restarts
            if _is_int(release):
                row.release = release
        return False


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a count


def replicas_by_type(metrics: Mapping[str, object]) -> dict[str, int] | None:
    """{"web": 3, "worker": 1} from a sample's `processes`; None from an older daemon."""
    processes = metrics.get("processes")
    if not isinstance(processes, dict):
        return None
    return {str(name): int(part.get("replicas", 0)) for name, part in processes.items()
            if isinstance(part, dict) and _is_int(part.get("replicas"))}


def _record_sample(row: Row, metrics: dict[str, Any], now: float) -> None:
    requests = int(metrics.get("requests", 0))
    if row.sampled_at is not None and row.requests is not None and requests >= row.requests:
        elapsed = now - row.sampled_at
        row.requests_per_s = (requests - row.requests) / elapsed if elapsed > 0 else None
    else:
        row.requests_per_s = None  # first sample, or the counter restarted with the container
    row.cpu_history.append(float(metrics.get("cpu", 0.0)))
    row.memory = float(metrics.get("memory", 0.0))
    row.requests = requests
    row.processes = replicas_by_type(metrics)
    row.sampled_at = now
    row.status = "running"  # only running projects are sampled


# --- the pure renderer ------------------------------------------------------------------

def sparkline(values: Iterable[float]) -> str:
    samples = list(values)
    if not samples:
        return ""
    # A floor on the scale keeps idle noise (0.1 % vs 0.3 %) from looking like a spike.
    top = max(max(samples), 5.0)
    last = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[min(last, round(v / top * last))] for v in samples)


def sort_rows(rows: Iterable[Row], key: SortKey) -> list[Row]:
    by_name = sorted(rows, key=lambda r: r.name)
    if key == "name":
        return by_name
    metric: dict[str, Callable[[Row], float]] = {
        "cpu": lambda r: r.cpu or 0.0,
        "mem": lambda r: r.memory or 0.0,
        "req": lambda r: float(r.requests or 0),
    }
    return sorted(by_name, key=metric[key], reverse=True)


def render_top(rows: Iterable[Row], *, sort: SortKey = "cpu", connection: str = "") -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, caption=connection or None,
                  caption_justify="left")
    table.add_column("NAME", no_wrap=True)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("RESTARTS", justify="right", no_wrap=True)
    table.add_column("REL", no_wrap=True)  # by RESTARTS, which count since it went live
    table.add_column("CPU", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)  # the sparkline
    table.add_column("MEM", justify="right", no_wrap=True)
    table.add_column("REQUESTS", justify="right", no_wrap=True)
    table.add_column("REQ/S", justify="right", no_wrap=True)
    ordered = sort_rows(rows, sort)
    # Replicas by type: a column only when the daemon reports them (issue 26).
    with_processes = any(row.processes for row in ordered)
    if with_processes:
        table.add_column("PROCESSES", no_wrap=True)
    table.add_column("URL", overflow="fold")
    for row in ordered:
        processes = [format_processes(row.processes)] if with_processes else []
        table.add_row(
            row.name, status_text(row.status),
            "-" if row.restarts is None else str(row.restarts), format_release(row.release),
            format_cpu(row.cpu),
            Text(sparkline(row.cpu_history), style="cyan"), format_memory(row.memory),
            "-" if row.requests is None else str(row.requests),
            "-" if row.requests_per_s is None else f"{row.requests_per_s:.1f}",
            *processes, row.url,
        )
    return table


# --- following the stream ----------------------------------------------------------------

_RETRYABLE = (DaemonUnreachable, ServerError, RateLimited)


def follow_events(
    client: HostdClient,
    state: TopState,
    on_change: Callable[[ServerEvent | None], None],
    *,
    stop: threading.Event,
    clock: Callable[[], float],
) -> None:
    """Keep `state` current until `stop` is set; 401/404 and other client errors end it."""
    delay = BACKOFF_START_S
    while not stop.is_set():
        try:
            for event in client.events(last_event_id=state.last_event_id):
                if event.event == "connected":
                    state.connection = "connected"
                    state.load_projects(client.list_projects())
                    delay = BACKOFF_START_S
                elif state.apply(event, clock()):
                    state.load_projects(client.list_projects())
                    state.apply(event, clock())
                on_change(event)
                if stop.is_set():
                    return
            reason = "stream ended"
        except _RETRYABLE as exc:
            reason = _short_reason(exc)
        state.connection = f"reconnecting in {delay:g} s ({reason})"
        on_change(None)
        stop.wait(delay)
        delay = min(delay * 2, BACKOFF_MAX_S)


def _short_reason(exc: Exception) -> str:
    if isinstance(exc, DaemonUnreachable):
        return "hostd not reachable"
    return str(exc)

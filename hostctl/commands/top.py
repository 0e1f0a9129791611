"""`hostctl top`: a live table of your projects, from the event stream."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from hostctl.commands.common import JsonOpt, state

if TYPE_CHECKING:
    from rich.table import Table

    from hostctl.client import HostdClient, ServerEvent
    from hostctl.context import AppContext
    from hostctl.top import TopState


class SortBy(StrEnum):
    cpu = "cpu"
    mem = "mem"
    req = "req"
    name = "name"


def top(
    ctx: typer.Context,
    sort: Annotated[SortBy, typer.Option("--sort", help="Sort rows by this column.")] = SortBy.cpu,
    once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Watch CPU, memory and requests of your projects live, until Ctrl-C.

    \b
    Example:
        hostctl top --sort mem
        hostctl top --once --json
    """
    from hostctl.top import TopState

    app_ctx = state(ctx)
    client = app_ctx.client()
    top_state = TopState()
    top_state.load_projects(client.list_projects())
    if once:
        _print_snapshot(app_ctx, top_state, sort, json_output)
    elif json_output:
        _stream_json(client, top_state)
    else:
        _run_live(app_ctx, client, top_state, sort)


def _print_snapshot(app_ctx: AppContext, top_state: TopState, sort: SortBy,
                    json_output: bool) -> None:
    from hostctl.top import render_top, sort_rows

    rows = sort_rows(top_state.rows.values(), sort.value)
    if json_output:
        from hostctl.output import write_json

        write_json({"projects": [row.as_json() for row in rows]})
        return
    app_ctx.show(render_top(rows, sort=sort.value))


def _stream_json(client: HostdClient, top_state: TopState) -> None:
    """NDJSON: one line per project each time its row changes, and connection changes."""
    import threading
    import time

    from hostctl.output import write_json
    from hostctl.top import follow_events

    def emit(event: ServerEvent | None) -> None:
        if event is None or event.event == "connected":
            write_json({"connection": top_state.connection})
            return
        row = top_state.rows.get(str((event.data or {}).get("projectId")))
        if row is not None:
            write_json({"event": event.event, "project": row.as_json()})

    follow_events(client, top_state, emit, stop=threading.Event(), clock=time.monotonic)


def _run_live(app_ctx: AppContext, client: HostdClient, top_state: TopState, sort: SortBy) -> None:
    import threading
    import time

    from rich.live import Live

    from hostctl.top import follow_events, render_top

    def table() -> Table:
        return render_top(top_state.rows.values(), sort=sort.value,
                          connection=f"{app_ctx.api_url}: {top_state.connection}")

    with Live(table(), console=app_ctx.out, auto_refresh=False, transient=False) as live:
        follow_events(
            client, top_state, lambda _event: live.update(table(), refresh=True),
            stop=threading.Event(), clock=time.monotonic,
        )


def register_commands(app: typer.Typer) -> None:
    app.command()(top)

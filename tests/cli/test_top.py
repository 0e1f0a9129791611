"""`top`: the pure renderer, the state folded from events, reconnection, and --once for real."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from rich.console import Console

from hostctl.client import HostdClient, ServerEvent
from hostctl.top import Row, TopState, follow_events, render_top, sparkline
from tests.support import tls

PROJECTS = [
    {"id": "a1", "name": "api", "status": "running", "url": "http://api.al.localhost:8080",
     "metrics": {"cpu": 1.0, "memory": 40.0, "requests": 10}},
    {"id": "b2", "name": "blog", "status": "stopped", "url": "http://blog.al.localhost:8080",
     "metrics": {"cpu": 0.0, "memory": 0.0, "requests": 0}},
]


def rendered(table) -> str:
    console = Console(record=True, width=100)
    console.print(table)
    return console.export_text()


def metrics_event(project_id: str, cpu: float, memory: float, requests: int, event_id: str):
    data = {"projectId": project_id, "metrics": {"cpu": cpu, "memory": memory,
                                                 "requests": requests}}
    return ServerEvent("metrics_updated", data, event_id)


def test_renderer_shows_one_row_per_project_sorted():
    rows = [Row("a1", "api", "running", "http://api", memory=64.0, requests=5),
            Row("b2", "blog", "stopped", "http://blog", memory=128.0, requests=1)]
    rows[0].cpu_history.extend([1.0, 30.0])
    rows[1].cpu_history.append(2.0)
    text = rendered(render_top(rows, sort="cpu", connection="connected"))
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATUS"]
    assert lines[1].startswith("api") and lines[2].startswith("blog")
    assert "30.0%" in lines[1] and "64.0 MB" in lines[1] and "http://api" in lines[1]
    assert "connected" in text
    by_mem = rendered(render_top(rows, sort="mem")).splitlines()
    assert by_mem[1].startswith("blog")


def test_sparkline_scales_to_the_largest_sample_with_a_floor():
    assert sparkline([]) == ""
    assert sparkline([0.0, 50.0, 100.0]) == "▁▅█"
    assert sparkline([0.1, 0.3]) == "▁▁", "idle noise stays flat"


def test_state_folds_metrics_and_computes_requests_per_second():
    state = TopState()
    state.load_projects(PROJECTS)
    assert state.apply(metrics_event("a1", 5.0, 50.0, 20, "7"), now=100.0) is False
    assert state.apply(metrics_event("a1", 9.0, 51.0, 60, "8"), now=104.0) is False
    row = state.rows["a1"]
    assert (row.cpu, row.memory, row.requests, row.requests_per_s) == (9.0, 51.0, 60, 10.0)
    assert list(row.cpu_history) == [1.0, 5.0, 9.0]
    assert state.last_event_id == "8"
    changed = ServerEvent("status_changed", {"projectId": "b2", "status": "running"}, "9")
    state.apply(changed, now=105.0)
    assert state.rows["b2"].status == "running"
    assert state.apply(metrics_event("zz", 1, 1, 1, "10"), now=106.0) is True, "unknown project"


def test_restarts_come_from_the_list_and_follow_status_changed():
    supervised = [{**PROJECTS[0], "restarts": 2, "desired_status": "running", "last_exit": None},
                  PROJECTS[1]]  # blog as an older daemon sends it: no restarts field
    state = TopState()
    state.load_projects(supervised)
    assert (state.rows["a1"].restarts, state.rows["b2"].restarts) == (2, None)
    crashed = {"projectId": "a1", "status": "error", "desired_status": "running",
               "status_reason": "crashed 3 times in a row (exit code 1); next start in 4 s",
               "restarts": 3, "last_exit": {"code": 1, "signal": None, "oom_killed": False,
                                            "at": "2026-12-01T12:00:00.000Z"}}
    assert state.apply(ServerEvent("status_changed", crashed, "5"), now=1.0) is False
    assert (state.rows["a1"].status, state.rows["a1"].restarts) == ("error", 3)
    assert state.rows["a1"].as_json()["restarts"] == 3
    # An older daemon's event carries no count: the one we have stays.
    state.apply(ServerEvent("status_changed", {"projectId": "a1", "status": "running"}, "6"),
                now=2.0)
    assert (state.rows["a1"].status, state.rows["a1"].restarts) == ("running", 3)
    assert state.rows["b2"].as_json()["restarts"] is None


def test_renderer_shows_restarts_right_justified_and_a_dash_when_unknown():
    rows = [Row("a1", "api", "error", "http://api", restarts=12),
            Row("b2", "blog", "running", "http://blog", restarts=3),
            Row("c3", "old", "running", "http://old")]  # from a daemon without restarts
    lines = rendered(render_top(rows, sort="name")).splitlines()
    header = lines[0]
    assert header.split()[:3] == ["NAME", "STATUS", "RESTARTS"]
    end = header.index("RESTARTS") + len("RESTARTS")
    cells = {line.split()[0]: line[:end].rstrip() for line in lines[1:4]}
    assert cells["api"].endswith(" 12") and cells["blog"].endswith(" 3")
    assert cells["old"].endswith(" -")


def test_the_release_comes_from_the_list_and_follows_status_changed():
    state = TopState()
    state.load_projects([{**PROJECTS[0], "release": 4}, PROJECTS[1]])  # blog: an older daemon
    assert (state.rows["a1"].release, state.rows["b2"].release) == (4, None)
    rolled = {"projectId": "a1", "status": "running", "release": 5}
    state.apply(ServerEvent("status_changed", rolled, "1"), now=1.0)
    assert state.rows["a1"].release == 5
    # An event without a release (or a JSON true) keeps the one we have.
    for data in ({"projectId": "a1", "status": "running"},
                 {"projectId": "a1", "status": "running", "release": True}):
        state.apply(ServerEvent("status_changed", data, "2"), now=2.0)
    assert state.rows["a1"].as_json()["release"] == 5
    lines = rendered(render_top(state.rows.values(), sort="name")).splitlines()
    assert lines[0].split()[:4] == ["NAME", "STATUS", "RESTARTS", "REL"]
    assert [line.split()[3] for line in lines[1:3]] == ["v5", "-"]


def sse(*events: tuple[str, str, dict]) -> bytes:
    return "".join(f"id: {i}\nevent: {name}\ndata: {json.dumps(data)}\n\n"
                   for i, name, data in events).encode()


def test_follower_reconnects_and_resumes_with_last_event_id():
    seen_last_ids: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/projects":
            return httpx.Response(200, json={"projects": PROJECTS})
        seen_last_ids.append(request.headers.get("last-event-id"))
        if len(seen_last_ids) == 2:
            raise httpx.ConnectError("daemon restarting", request=request)
        metrics = {"projectId": "a1", "metrics": {"cpu": 3.0, "memory": 1.0, "requests": 1}}
        body = sse((f"{len(seen_last_ids)}0", "connected", {"userId": "u"}),
                   (f"{len(seen_last_ids)}1", "metrics_updated", metrics))
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    client = HostdClient("http://hostd.test", "t", transport=httpx.MockTransport(handler))
    state, stop, connections = TopState(), threading.Event(), []

    def on_change(event):
        connections.append(state.connection)
        if len(seen_last_ids) >= 3 and event is not None and event.event == "metrics_updated":
            stop.set()

    follow_events(client, state, on_change, stop=stop, clock=lambda: 1.0)
    assert seen_last_ids == [None, "11", "11"]
    assert any(c.startswith("reconnecting") and "not reachable" in c for c in connections)
    assert connections[-1] == "connected"
    assert state.rows["a1"].cpu == 3.0


def test_follower_gives_up_on_a_client_error():
    def handler(request):
        body = {"error": "Unauthorized", "message": "bad token", "statusCode": 401}
        return httpx.Response(401, json=body)

    client = HostdClient("http://hostd.test", "t", transport=httpx.MockTransport(handler))
    from hostctl.errors import Unauthorized

    with pytest.raises(Unauthorized):
        follow_events(client, TopState(), lambda e: None, stop=threading.Event(),
                      clock=lambda: 0.0)


def test_top_once_shows_the_users_projects(logged_in):
    for name in ("alpha", "beta"):
        logged_in("projects", "create", name, "--repo", "https://github.com/a/b", "--no-wait")
    table = logged_in("top", "--once", "--sort", "name")
    assert table.exit_code == 0, table.stderr
    firsts = [line.split()[0] for line in table.stdout.splitlines() if line.strip()]
    assert firsts[0] == "NAME"
    assert firsts.index("alpha") < firsts.index("beta"), "sorted by name"
    snapshot = json.loads(logged_in("top", "--once", "--json").stdout)
    assert sorted(p["name"] for p in snapshot["projects"]) == ["alpha", "beta"]
    assert {"cpu", "memory", "requests", "requests_per_s", "restarts", "status", "url"} <= set(
        snapshot["projects"][0]
    )


def test_top_reconnects_after_the_daemon_restarts(fresh_hostd):
    from tests.support import register

    with httpx.Client(base_url=fresh_hostd.url, verify=tls()) as http:
        token, _ = register(http)
    client = HostdClient(fresh_hostd.url, token)
    state, stop, seen = TopState(), threading.Event(), []

    def on_change(event):
        seen.append(state.connection if event is None else event.event)
        if seen.count("connected") == 1 and len(seen) == 1:
            threading.Thread(target=fresh_hostd.restart, daemon=True).start()
        if seen.count("connected") >= 2:
            stop.set()

    watchdog = threading.Timer(60, stop.set)
    watchdog.start()
    try:
        follow_events(client, state, on_change, stop=stop, clock=lambda: 0.0)
    finally:
        watchdog.cancel()
    assert seen.count("connected") >= 2, seen
    assert any(str(s).startswith("reconnecting") for s in seen)

"""`GET /api/containers/events` on a real daemon: auth, framing, keep-alive, fan-out, release.

Status changes here come from deploys of a repository that does not exist (they fail at
the clone step), so no engine is needed; metrics from real containers are checked in
test_dataplane.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import HostdServer, auth, register, tls

SUBSCRIBERS = 200


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    # One user's 200 subscribers: the per-user stream cap (tests/test_stream_limits.py's
    # subject) would refuse all but 10.
    server = HostdServer(data_dir=tmp_path_factory.mktemp("events-data"),
                         env_overrides={"HOSTD_SSE_KEEPALIVE": "1",
                                        "HOSTD_INSTANCE": "test-events",
                                        "HOSTD_MAX_STREAMS_PER_USER": "0"}).start()
    yield server
    server.stop()


def read_events(lines: Iterator[str], wanted: int, timeout: float = 20.0) -> list[dict]:
    """Parse SSE frames (comments included, as {"comment": ...}) until `wanted` arrived."""
    frames: list[dict] = []
    frame: dict = {}
    deadline = time.monotonic() + timeout
    for line in lines:
        if line.startswith(":"):
            frames.append({"comment": line[1:].strip()})
        elif line == "":
            if frame:
                frame["data"] = json.loads(frame.get("data", "null"))
                frames.append(frame)
                frame = {}
        else:
            key, _, value = line.partition(": ")
            frame[key] = value
        if len(frames) >= wanted or time.monotonic() > deadline:
            break
    return frames


def subscribers(daemon: HostdServer) -> int:
    return httpx.get(f"{daemon.url}/healthz", verify=tls()).json()["subscribers"]


def wait_subscribers(daemon: HostdServer, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while subscribers(daemon) != count:
        assert time.monotonic() < deadline, f"{subscribers(daemon)} subscribers, not {count}"
        time.sleep(0.05)


def failing_project(client: httpx.Client, tmp: Path, name: str) -> str:
    resp = client.post("/api/projects", json={
        "name": name, "github_url": f"file://{tmp}/no-such-repo", "template": "static"})
    assert resp.status_code == 201, resp.text
    return resp.json()["project"]["id"]


def test_needs_a_valid_token(daemon):
    with httpx.Client(base_url=daemon.url, verify=tls()) as client:
        assert client.get("/api/containers/events").status_code == 401
        resp = client.get("/api/containers/events", params={"access_token": "x.y.z"})
        assert resp.status_code == 401 and resp.json()["error"] == "Unauthorized"
        token, _ = register(client)
        assert client.get("/api/projects", params={"access_token": token}).status_code == 401, \
            "only the event stream takes the token in the query"


def test_connected_then_status_changes_then_keep_alive(daemon, tmp_path):
    with httpx.Client(base_url=daemon.url, timeout=30, verify=tls()) as client:
        token, user = register(client)
        client.headers.update(auth(token))
        with client.stream("GET", "/api/containers/events") as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            lines = resp.iter_lines()
            (connected,) = read_events(lines, 1)
            assert connected["event"] == "connected"
            assert connected["data"] == {"userId": user["id"]}
            project_id = failing_project(client, tmp_path, "nope")
            frames = read_events(lines, 6)
        events = [f for f in frames if "event" in f]
        assert {e["event"] for e in events} == {"status_changed"}
        assert all(e["data"]["projectId"] == project_id for e in events)
        assert events[-1]["data"]["status"] == "error" or any(
            e["data"]["status"] == "error" for e in events)
        assert {"status", "status_reason", "projectId"} <= set(events[0]["data"])
        # The deploy's step and outcome are fields of their own (status_reason is prose).
        assert events[0]["data"]["deploy_step"] == "queued"
        assert "clone" in [e["data"]["deploy_step"] for e in events]
        failed = next(e["data"] for e in events if e["data"]["status"] == "error")
        assert failed["deploy_step"] is None
        assert failed["last_deploy"] == {"status": "failed", "reason": failed["status_reason"]}
        ids = [int(e["id"]) for e in [connected, *events]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert {"comment": "keep-alive"} in frames, "a quiet stream sends keep-alives"


def test_access_token_in_the_query_and_never_in_the_log(daemon):
    with httpx.Client(base_url=daemon.url, timeout=30, verify=tls()) as client:
        token, _ = register(client)
        with client.stream("GET", "/api/containers/events",
                           params={"access_token": token}) as resp:
            assert resp.status_code == 200
            assert read_events(resp.iter_lines(), 1)[0]["event"] == "connected"
    assert token not in daemon.logs()


def test_last_event_id_replays_missed_status_changes(daemon, tmp_path):
    with httpx.Client(base_url=daemon.url, timeout=30, verify=tls()) as client:
        token, _ = register(client)
        client.headers.update(auth(token))
        with client.stream("GET", "/api/containers/events") as resp:
            last_id = read_events(resp.iter_lines(), 1)[0]["id"]
        project_id = failing_project(client, tmp_path, "missed")
        deadline = time.monotonic() + 20
        while client.get(f"/api/projects/{project_id}").json()["project"]["status"] != "error":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with client.stream("GET", "/api/containers/events",
                           headers={"Last-Event-ID": last_id}) as resp:
            frames = [f for f in read_events(resp.iter_lines(), 8, timeout=3) if "event" in f]
    assert frames[0]["event"] == "connected"
    replayed = [f for f in frames[1:] if f["event"] == "status_changed"]
    assert replayed and replayed[-1]["data"]["status"] == "error"
    assert all(int(f["id"]) > int(last_id) for f in replayed)


def test_two_hundred_subscribers_all_receive_and_are_released(daemon, tmp_path):
    with httpx.Client(base_url=daemon.url, timeout=30, verify=tls()) as client:
        token, _ = register(client)
        client.headers.update(auth(token))
        other_token, _ = register(client)
    wait_subscribers(daemon, 0)

    async def subscriber(http: httpx.AsyncClient, ready: asyncio.Event,
                         counter: list[int], token: str) -> list[str]:
        names = []
        async with http.stream("GET", "/api/containers/events", headers=auth(token)) as resp:
            assert resp.status_code == 200
            async for line in resp.aiter_lines():
                if line.startswith("event: "):
                    names.append(line[7:])
                    if names == ["connected"]:
                        counter[0] += 1
                        if counter[0] == SUBSCRIBERS:
                            ready.set()
                    elif "status_changed" in names:
                        return names
        return names

    async def scenario() -> list[list[str]]:
        limits = httpx.Limits(max_connections=SUBSCRIBERS + 10)
        async with httpx.AsyncClient(base_url=daemon.url, limits=limits, timeout=60,
                                     verify=tls()) as http:
            ready, counter = asyncio.Event(), [0]
            tasks = [asyncio.create_task(subscriber(http, ready, counter, token))
                     for _ in range(SUBSCRIBERS)]
            stranger = asyncio.create_task(subscriber(http, asyncio.Event(), [0], other_token))
            await asyncio.wait_for(ready.wait(), 60)
            assert subscribers(daemon) == SUBSCRIBERS + 1
            with httpx.Client(base_url=daemon.url, headers=auth(token), timeout=30,
                              verify=tls()) as client:
                await asyncio.to_thread(failing_project, client, tmp_path, "fanout")
            results = await asyncio.wait_for(asyncio.gather(*tasks), 60)
            await asyncio.sleep(0.5)
            assert not stranger.done(), "another user's events never reach this stream"
            stranger.cancel()
            return results

    results = asyncio.run(scenario())
    assert all(names[0] == "connected" and "status_changed" in names for names in results)
    wait_subscribers(daemon, 0, timeout=3.0)

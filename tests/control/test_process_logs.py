"""A project's runtime log carries every replica's lines, each marked with its process
(issue 26), on FakeRuntime: the tail, the filter, the follow across replicas, the bounds."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx

from tests.control.conftest import WAIT_S, deployed, redeployed
from tests.control.test_formation import APP, running_of, scale, settled
from tests.support import tls


def log_of(client: httpx.Client, pid: str, **params: Any) -> httpx.Response:
    return client.get(f"/api/projects/{pid}/logs", params=params)


def write(daemon: Any, pid: str, process: str, number: int, line: str) -> None:
    daemon.fake.write_log(running_of(daemon, pid, process)[number - 1].id, line)


def test_the_tail_marks_each_line_with_its_process_and_filters(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        assert scale(client, pid, web=2, worker=1).status_code == 200
        settled(daemon, client, pid, 2, 1)
        write(daemon, pid, "web", 1, "GET / 200")
        write(daemon, pid, "web", 2, "GET /a 200")
        write(daemon, pid, "worker", 1, "job done \x1b[31m")
        body = log_of(client, pid, tail=10).json()
        marked = set(zip(body["processes"], body["lines"], strict=True))
        assert {("web.1", "GET / 200"), ("web.2", "GET /a 200"),
                ("worker.1", "job done \x1b[31m")} <= marked
        assert set(body) == {"source", "lines", "processes"}
        worker = log_of(client, pid, process="worker").json()
        assert set(worker["processes"]) == {"worker.1"} and "job done \x1b[31m" in worker["lines"]
        web2 = log_of(client, pid, process="web.2").json()
        assert set(web2["processes"]) == {"web.2"} and "GET /a 200" in web2["lines"]


def test_a_bad_or_unknown_process_is_a_clear_error(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo)["id"]
        for name, status in [("clock", 404), ("web.9", 404), ("WEB;rm", 400), ("x" * 41, 400)]:
            resp = log_of(client, pid, process=name)
            assert resp.status_code == status, resp.text
            assert resp.json()["statusCode"] == status, resp.text
        with daemon.logged_in() as stranger:
            assert log_of(stranger, pid, process="web").status_code == 404


def test_the_tail_interleaves_the_replicas_lines_by_time(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        settled(daemon, client, pid, 1, 1)
        for n in range(5):
            write(daemon, pid, "web", 1, f"web {n}")
            write(daemon, pid, "worker", 1, f"worker {n}")
        body = log_of(client, pid, tail=10).json()
        assert list(zip(body["processes"], body["lines"], strict=True)) == [
            pair for n in range(5) for pair in (("web.1", f"web {n}"), ("worker.1", f"worker {n}"))]
        newest = log_of(client, pid, tail=3).json()  # the newest 3 of them all
        assert list(zip(newest["processes"], newest["lines"], strict=True)) == [
            ("worker.1", "worker 3"), ("web.1", "web 4"), ("worker.1", "worker 4")]


def follow_events(client: httpx.Client, pid: str, want: int, **params: Any) -> list[dict]:
    """The first `want` log events of a follow (not through `client`: its response hook
    reads every answer to its end)."""
    events: list[dict] = []
    with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=WAIT_S,
                      verify=tls()) as streaming, \
            streaming.stream("GET", f"/api/projects/{pid}/logs",
                             params={"follow": "true", "tail": 0, **params}) as resp:
        assert resp.status_code == 200
        if not want:
            return events
        event = ""
        for raw in resp.iter_lines():
            if raw.startswith("event: "):
                event = raw[len("event: "):]
            elif raw.startswith("data: ") and event == "log":
                events.append(json.loads(raw[len("data: "):]))
                if len(events) >= want:
                    break
    return events


def test_a_follow_carries_every_replicas_lines_marked(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        settled(daemon, client, pid, 1, 1)
        write(daemon, pid, "web", 1, "before web")
        write(daemon, pid, "worker", 1, "before worker")
        got = follow_events(client, pid, 2, tail=2)  # the newest 2 of them all
        assert [(e["process"], e["line"]) for e in got] == [
            ("web.1", "before web"), ("worker.1", "before worker")]
        only = follow_events(client, pid, 1, tail=1, process="worker")
        assert only == [{"line": "before worker", "process": "worker.1"}]


def test_a_follow_of_too_many_replicas_asks_for_a_filter(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        assert scale(client, pid, web=3, worker=6).status_code == 200
        settled(daemon, client, pid, 3, 6)
        resp = log_of(client, pid, follow="true")
        assert resp.status_code == 400 and "process=" in resp.json()["message"], resp.text
        assert len(follow_events(client, pid, 0, process="web")) == 0


@contextlib.contextmanager
def following(client: httpx.Client, pid: str, **params: Any) -> Iterator[Iterator[dict]]:
    """The log events of a follow as they come (the stream stays open in the block)."""
    with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=WAIT_S,
                      verify=tls()) as streaming, \
            streaming.stream("GET", f"/api/projects/{pid}/logs",
                             params={"follow": "true", "tail": 0, **params}) as resp:
        assert resp.status_code == 200

        def events() -> Iterator[dict]:
            event = ""
            for raw in resp.iter_lines():
                if raw.startswith("event: "):
                    event = raw[len("event: "):]
                elif raw.startswith("data: ") and event == "log":
                    yield json.loads(raw[len("data: "):])
        yield events()


def until_line(events: Iterator[dict], line: str) -> list[tuple[str, str]]:
    """Every (process, line) up to and with `line` (the read times out past WAIT_S)."""
    seen = []
    for event in events:
        seen.append((event["process"], event["line"]))
        if event["line"] == line:
            return seen
    raise AssertionError(f"the follow ended before {line!r}: {seen}")


def test_a_follow_begins_interleaved_and_picks_up_a_replica_scaled_in(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        settled(daemon, client, pid, 1, 1)
        for n in range(3):
            write(daemon, pid, "web", 1, f"web {n}")
            write(daemon, pid, "worker", 1, f"worker {n}")
        with following(client, pid, tail=4) as events:
            assert until_line(events, "worker 2") == [
                ("web.1", "web 1"), ("worker.1", "worker 1"), ("web.1", "web 2"),
                ("worker.1", "worker 2")]
            assert scale(client, pid, web=2).status_code == 200
            settled(daemon, client, pid, 2, 1)
            write(daemon, pid, "web", 2, "web.2 up")
            assert until_line(events, "web.2 up") == [("web.2", "web.2 up")]
            write(daemon, pid, "web", 1, "web.1 still")
            assert until_line(events, "web.1 still") == [("web.1", "web.1 still")]


def test_a_follow_of_one_type_picks_up_only_its_own_replicas(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        settled(daemon, client, pid, 1, 1)
        write(daemon, pid, "worker", 1, "worker.1 up")
        with following(client, pid, tail=1, process="worker") as events:
            assert until_line(events, "worker.1 up") == [("worker.1", "worker.1 up")]
            assert scale(client, pid, web=2).status_code == 200
            settled(daemon, client, pid, 2, 1)
            write(daemon, pid, "web", 2, "web.2 up")
            write(daemon, pid, "web", 1, "web.1 up")
            # worker.2 is picked up at a listing made after web.2 ran: web.2 was left out.
            assert scale(client, pid, worker=2).status_code == 200
            settled(daemon, client, pid, 2, 2)
            write(daemon, pid, "worker", 2, "worker.2 up")
            assert until_line(events, "worker.2 up") == [("worker.2", "worker.2 up")]


def test_a_follow_goes_on_with_a_redeploys_new_release(daemon, repo):
    with daemon.logged_in() as client:
        pid = deployed(client, repo, files=APP)["id"]
        settled(daemon, client, pid, 1, 1)
        (old,) = running_of(daemon, pid, "web")
        daemon.fake.write_log(old.id, "old up")
        with following(client, pid, tail=1, process="web") as events:
            assert until_line(events, "old up") == [("web.1", "old up")]
            assert redeployed(client, pid)["status"] == "running"
            settled(daemon, client, pid, 1, 1)
            (new,) = running_of(daemon, pid, "web")
            assert new.id != old.id
            daemon.fake.write_log(new.id, "new up")
            assert until_line(events, "new up") == [("web.1", "new up")]

"""Open streams per user (hostd.control.streams): event streams and followed logs together,
at most HOSTD_MAX_STREAMS_PER_USER (10); a place comes back however a stream ends."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support import HostdServer, auth, register, tls
from tests.test_auth_api import assert_error
from tests.test_quotas import created, settled


@contextlib.contextmanager
def stream(client: httpx.Client, path: str, **params: str) -> Iterator[httpx.Response]:
    with client.stream("GET", path, params=params) as resp:
        # Kept while the stream is open: a dropped line iterator closes the connection.
        lines = resp.iter_lines() if resp.status_code == 200 else None
        if lines is not None:
            next(lines)  # the first line: the daemon has admitted it
        yield resp


def events(client: httpx.Client) -> contextlib.AbstractContextManager[httpx.Response]:
    return stream(client, "/api/containers/events")


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.1)


@pytest.fixture
def stream_hostd(make_hostd) -> HostdServer:
    return make_hostd(HOSTD_SSE_KEEPALIVE="0.5")


@contextlib.contextmanager
def streaming(server: HostdServer) -> Iterator[httpx.Client]:
    """A new user's client without client_for's hook (it reads every body to its end,
    which a stream has not)."""
    with httpx.Client(base_url=server.url, timeout=30, verify=tls()) as client:
        client.headers.update(auth(register(client)[0]))
        yield client


def test_the_eleventh_stream_is_refused_and_a_closed_one_gives_its_place_back(
        stream_hostd: HostdServer) -> None:
    with streaming(stream_hostd) as alice, contextlib.ExitStack() as open_streams:
        project = settled(alice, created(alice))
        held = [open_streams.enter_context(events(alice)) for _ in range(10)]
        assert all(resp.status_code == 200 for resp in held)
        with events(alice) as refused:
            assert refused.status_code == 429, "an eleventh stream was let in"
            refused.read()
            body = assert_error(refused, 429, "RateLimited")
            assert int(refused.headers["retry-after"]) >= 1
            assert "10" in body["message"] and "HOSTD_MAX_STREAMS_PER_USER" in body["message"]
        # Followed logs are streams too.
        with stream(alice, f"/api/projects/{project['id']}/logs", source="build",
                    follow="true") as logs:
            assert logs.status_code == 429, "a followed log past the cap was let in"
            logs.read()
            assert_error(logs, 429, "RateLimited")
        # Another user has streams of their own.
        with streaming(stream_hostd) as other, events(other) as theirs:
            assert theirs.status_code == 200
        held.pop().close()  # the client leaves: its stream's place comes back

        def admitted() -> bool:
            with events(alice) as again:
                return again.status_code == 200

        eventually(admitted)


def test_a_stream_that_ends_by_itself_gives_its_place_back(stream_hostd: HostdServer) -> None:
    with streaming(stream_hostd) as alice, contextlib.ExitStack() as open_streams:
        project = settled(alice, created(alice))
        for _ in range(9):
            open_streams.enter_context(events(alice))
        for _ in range(5):  # a finished deploy's log: its tail, `end`, and the stream ends
            with alice.stream("GET", f"/api/projects/{project['id']}/logs",
                              params={"source": "build", "follow": "true"}) as logs:
                assert logs.status_code == 200
                assert "event: end" in logs.read().decode()
        # Nine open and five ended: the tenth is still admitted, the eleventh is not.
        open_streams.enter_context(events(alice))
        with events(alice) as refused:
            assert refused.status_code == 429, "an eleventh stream was let in"
            refused.read()
            assert_error(refused, 429, "RateLimited")

"""Uploads are bounded in memory, CPU and time, against a real daemon process: what it
spends is read from /proc/<its pid> before and after (security bounds, not benchmarks).

- A 0.5 MB gzip'd tar whose first header (a GNU long name, or a pax header) declares
  512 MiB: refused before it is read, the daemon's peak RSS < 50 MB above where it was.
- About 1 KB of pathological names (a 300,000-character link target, a hundred names of
  1,900 components, a pax header of digits): refused in < 100 ms of the daemon's CPU.
- Uploads at once per user (429 with Retry-After) and bytes staged at once per user (413).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.archives import archive, extension_bomb, pathological_names
from tests.support import HostdServer, client_for, register
from tests.test_auth_api import assert_error

GZIP = {"Content-Type": "application/gzip"}
RSS_GROWTH_MAX_KB = 50 * 1024
CPU_MAX_S = 0.1


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    server = HostdServer(data_dir=tmp_path_factory.mktemp("upload-bounds"),
                         env_overrides={"HOSTD_UPLOADS_PER_USER": "1"}).start()
    yield server
    server.stop()


def _headers(client: httpx.Client) -> dict[str, str]:
    token, _ = register(client)
    return {"Authorization": f"Bearer {token}"}


def _project(client: httpx.Client, headers: dict[str, str]) -> str:
    resp = client.post("/api/projects", headers=headers, json={
        "name": f"bounds-{uuid.uuid4().hex[:8]}",
        "template": "static", "source": "upload"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["project"]["id"])


def _put(client: httpx.Client, project_id: str, body: bytes | Iterator[bytes],
         headers: dict[str, str]) -> httpx.Response:
    return client.put(f"/api/projects/{project_id}/source", content=body,
                      headers={**headers, **GZIP})


def _status_kb(pid: int, field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(),
                      re.MULTILINE)
    assert match, field
    return int(match.group(1))


def _reset_peak(pid: int) -> None:
    """VmHWM from now on (Linux ≥ 4.0, as root); else it stays the peak since start,
    which only makes the bound stricter."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def _cpu_s(pid: int) -> float:
    """utime + stime of the whole daemon process (every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {kind: extension_bomb(kind.encode(), 512 * 2**20) for kind in ("L", "x")}


@pytest.mark.parametrize("kind", ["L", "x"])
def test_a_header_declaring_512_mib_is_refused_before_it_is_read(daemon, bombs, kind):
    body = bombs[kind]
    assert len(body) < 600_000
    pid = daemon.process.pid if daemon.process else 0
    with client_for(daemon, timeout=120.0) as client:
        headers = _headers(client)
        project = _project(client, headers)
        _reset_peak(pid)
        before = _status_kb(pid, "VmRSS")
        resp = _put(client, project, body, headers)
        peak = _status_kb(pid, "VmHWM")
    assert peak - before < RSS_GROWTH_MAX_KB, (before, peak)
    message = assert_error(resp, 400, "ValidationError")["message"]
    assert "extension header at byte 0" in message and str(512 * 2**20) in message


@pytest.mark.parametrize("case", ["long-link-target", "deep-names", "pax-digits"])
def test_pathological_names_are_refused_in_under_100_ms_of_cpu(daemon, case):
    if case == "pax-digits":  # tarfile's own pax parser is quadratic in a run of digits
        body, named = extension_bomb(b"x", 16 * 1024, fill=b"1"), "malformed record"
    else:
        members, named = pathological_names()[case]
        body = archive(members)
    assert len(body) < 2048
    pid = daemon.process.pid if daemon.process else 0
    with client_for(daemon, timeout=120.0) as client:
        headers = _headers(client)
        project = _project(client, headers)
        before = _cpu_s(pid)
        resp = _put(client, project, body, headers)
        spent = _cpu_s(pid) - before
    assert spent < CPU_MAX_S, spent
    assert named in assert_error(resp, 400, "ValidationError")["message"]


def _held_upload(client: httpx.Client, project: str, headers: dict[str, str],
                 first: bytes, release: threading.Event,
                 answers: list[httpx.Response]) -> threading.Thread:
    """An upload whose body stops after `first` until `release` is set."""

    def body() -> Iterator[bytes]:
        yield first
        release.wait(60)
        yield b"rest"

    thread = threading.Thread(target=lambda: answers.append(_put(client, project, body(),
                                                                 headers)))
    thread.start()
    return thread


def _wait_staged(server: HostdServer, project: str, size: int) -> None:
    """Until the held upload's first bytes are in its staging file (bounded)."""
    for _ in range(600):
        staged = list((server.data_dir / "sources" / project).glob("incoming-*"))
        if staged and staged[0].stat().st_size >= size:
            return
        threading.Event().wait(0.05)
    raise AssertionError("the held upload never reached the daemon")


def test_a_users_second_upload_at_once_is_a_429_with_retry_after(daemon):
    with client_for(daemon, timeout=120.0) as client, client_for(daemon) as second:
        headers = _headers(client)
        first, other = _project(client, headers), _project(client, headers)
        release, answers = threading.Event(), []
        held = _held_upload(client, first, headers, b"\x1f\x8b" + bytes(2**20), release,
                            answers)
        try:
            _wait_staged(daemon, first, 2**20)
            resp = _put(second, other, archive([("../z", "file", "")]), headers)
            assert "HOSTD_UPLOADS_PER_USER" in assert_error(resp, 429,
                                                             "RateLimited")["message"]
            assert int(resp.headers["Retry-After"]) >= 1
            someone = _headers(second)  # another user is not held back
            resp = _put(second, _project(second, someone), archive([("../x", "file", "")]),
                        someone)
            assert_error(resp, 400, "ValidationError")
        finally:
            release.set()
            held.join(60)
        assert_error(answers[0], 400, "ValidationError")  # not a gzip'd tar
        resp = _put(second, other, archive([("../y", "file", "")]), headers)
        assert "../y" in assert_error(resp, 400, "ValidationError")["message"]


def test_a_users_staged_bytes_are_capped(make_hostd):
    server = make_hostd(HOSTD_UPLOAD_STAGING_MB_PER_USER="2")
    with client_for(server, timeout=120.0) as client, client_for(server) as second:
        headers = _headers(client)
        first, other = _project(client, headers), _project(client, headers)
        release, answers = threading.Event(), []
        held = _held_upload(client, first, headers, bytes(1_100_000), release, answers)
        try:
            _wait_staged(server, first, 1_100_000)  # staged: written to its file
            resp = _put(second, other, bytes(1_000_000), headers)
            message = assert_error(resp, 413, "PayloadTooLarge")["message"]
            assert "HOSTD_UPLOAD_STAGING_MB_PER_USER" in message
            assert not list((server.data_dir / "sources" / other).glob("incoming-*"))
        finally:
            release.set()
            held.join(60)
        assert_error(answers[0], 400, "ValidationError")

"""`POST /api/projects` with `source: "upload"` and `PUT /api/projects/:id/source`: the
contract's shapes, owner scoping, and every archive guard with nothing written outside."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hostd.control.upload_gate import UploadGate
from hostd.errors import PayloadTooLarge, RateLimited
from tests.archives import archive, hostile
from tests.support import HostdServer, client_for, register
from tests.test_auth_api import assert_error

GZIP = {"Content-Type": "application/gzip"}


def new_name() -> str:
    return f"up-{uuid.uuid4().hex[:8]}"


def upload_project(client: httpx.Client, headers: dict) -> dict:
    resp = client.post("/api/projects", headers=headers,
                       json={"name": new_name(), "template": "static", "source": "upload"})
    assert resp.status_code == 201, resp.text
    return resp.json()["project"]


def put(client: httpx.Client, project_id: str, body: bytes | Iterator[bytes],
        headers: dict, content_type: dict = GZIP) -> httpx.Response:
    return client.put(f"/api/projects/{project_id}/source", content=body,
                      headers={**headers, **content_type})


def test_an_upload_project_waits_stopped_for_its_first_upload(client, user):
    project = upload_project(client, user["headers"])
    assert project["status"] == "stopped" and project["deploying"] is False
    assert "first upload" in project["status_reason"]
    assert project["github_url"] == "upload:"  # the contract's value, as before `source`
    assert (project["source"], project["upload_digest"]) == ("upload", None)
    assert project["release"] is None
    assert (project["deploy_step"], project["last_deploy"]) == (None, None)
    resp = client.post(f"/api/projects/{project['id']}/deploy", headers=user["headers"])
    assert "hostctl up" in assert_error(resp, 409, "ConflictError")["message"]


@pytest.mark.parametrize("body, says", [
    ({"template": "static"}, "github_url is required"),
    ({"template": "static", "source": "upload", "github_url": "https://github.com/a/b"},
     "not both"),
    ({"template": "static", "source": "git"}, "source"),
])
def test_create_needs_exactly_one_source(client, user, body, says):
    resp = client.post("/api/projects", headers=user["headers"], json={"name": new_name(),
                                                                       **body})
    assert says in assert_error(resp, 400, "ValidationError")["message"]


def _leftovers(server: HostdServer, project_id: str) -> list[str]:
    directory = server.data_dir / "sources" / project_id
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.mark.parametrize("case", sorted(hostile(Path("/x/outside"))))
def test_each_archive_guard_is_a_400_naming_the_member(hostd, client, user, tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    members, named = hostile(outside)[case]
    project = upload_project(client, user["headers"])
    resp = put(client, project["id"], archive(members), user["headers"])
    assert named in assert_error(resp, 400, "ValidationError")["message"]
    assert list(outside.iterdir()) == []
    assert _leftovers(hostd, project["id"]) == []  # not even the upload is kept
    after = client.get(f"/api/projects/{project['id']}", headers=user["headers"]).json()
    assert after["project"]["github_url"] == "upload:"
    assert after["project"]["status"] == "stopped"


def test_the_escape_members_land_nowhere(hostd, client, user):
    """`../escape` and a link to a directory outside then a file through it: refused,
    and no such file exists anywhere near the data dir afterwards."""
    project = upload_project(client, user["headers"])
    marker = f"escape-{uuid.uuid4().hex[:8]}"
    target = Path("/tmp") / marker
    members = [("ok", "file", "x"), (f"../../../../../../../../tmp/{marker}", "file", "x")]
    assert put(client, project["id"], archive(members), user["headers"]).status_code == 400
    members = [("l", "sym", "/tmp"), (f"l/{marker}", "file", "x")]
    assert put(client, project["id"], archive(members), user["headers"]).status_code == 400
    assert not target.exists()
    assert not list(hostd.data_dir.rglob(f"*{marker}*"))


@pytest.mark.parametrize("body", [b"plain text", b"\x1f\x8b\x08\x00broken gzip"])
def test_a_body_that_is_not_a_gzipped_tar_is_a_400(client, user, body):
    project = upload_project(client, user["headers"])
    resp = put(client, project["id"], body, user["headers"])
    assert "gzip'd tar" in assert_error(resp, 400, "ValidationError")["message"]


def test_the_upload_takes_gzip_only_and_a_bigger_body_than_the_json_cap(client, user):
    project = upload_project(client, user["headers"])
    resp = put(client, project["id"], b'{"a": 1}', user["headers"],
               {"Content-Type": "application/json"})
    assert_error(resp, 415, "UnsupportedMediaType")
    # Above HOSTD_MAX_BODY_BYTES (1 MiB by default) and still checked: not a 413.
    big = archive([("x", "file", os.urandom(1_100_000)), ("../e", "file", "x")])
    assert len(big) > 1024 * 1024
    assert "../e" in assert_error(put(client, project["id"], big, user["headers"]), 400,
                                  "ValidationError")["message"]


def test_someone_elses_project_or_a_git_one(client, user, other_user):
    project = upload_project(client, user["headers"])
    body = archive([("index.html", "file", "hi")])
    assert_error(put(client, project["id"], body, other_user["headers"]), 404, "NotFound")
    assert_error(put(client, "nope", body, user["headers"]), 404, "NotFound")
    resp = client.put(f"/api/projects/{project['id']}/source", content=body, headers=GZIP)
    assert_error(resp, 401, "Unauthorized")


def test_caps_413_for_the_body_400_for_members(make_hostd):
    server = make_hostd(HOSTD_MAX_SOURCE_MB="1", HOSTD_MAX_SOURCE_FILES="10")
    with client_for(server) as client:
        token, _ = register(client)
        headers = {"Authorization": f"Bearer {token}"}
        project = upload_project(client, headers)
        noise = os.urandom(1024 * 1024 + 10)
        resp = put(client, project["id"], noise, headers)
        assert "HOSTD_MAX_SOURCE_MB" in assert_error(resp, 413, "PayloadTooLarge")["message"]
        chunked = put(client, project["id"], iter([noise[:600_000], noise[600_000:]]), headers)
        assert_error(chunked, 413, "PayloadTooLarge")
        many = archive([(f"f{i}", "file", "") for i in range(11)])
        resp = put(client, project["id"], many, headers)
        assert "HOSTD_MAX_SOURCE_FILES" in assert_error(resp, 400, "ValidationError")["message"]
        zeros = archive([("zeros", "file", "0" * (2 * 1024 * 1024))])  # small body, big tree
        resp = put(client, project["id"], zeros, headers)
        assert "HOSTD_MAX_SOURCE_MB" in assert_error(resp, 400, "ValidationError")["message"]
        assert _leftovers(server, project["id"]) == []


def _rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match
    return int(match.group(1))


def test_a_50_mb_upload_keeps_the_daemon_flat(make_hostd, tmp_path):
    """Streamed to disk and checked as a stream: hostd's RSS grows by far less than the
    body (the archive ends in a bad member, so nothing is built)."""
    server = make_hostd()
    assert server.process is not None
    body = archive([("noise", "file", os.urandom(51 * 1024 * 1024)),
                    ("../late", "file", "x")])
    path = tmp_path / "big.tar.gz"
    path.write_bytes(body)
    del body
    with client_for(server, timeout=120.0) as client:
        token, _ = register(client)
        headers = {"Authorization": f"Bearer {token}"}
        project = upload_project(client, headers)
        before = _rss_kb(server.process.pid)

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while piece := handle.read(256 * 1024):
                    yield piece

        started = time.monotonic()
        resp = put(client, project["id"], chunks(), headers)
        assert "../late" in assert_error(resp, 400, "ValidationError")["message"]
        after = _rss_kb(server.process.pid)
    assert path.stat().st_size > 50 * 1024 * 1024
    assert after - before < 30 * 1024, (before, after, time.monotonic() - started)


def test_checks_run_on_the_upload_threads_and_keep_the_users_slot_to_their_end():
    """hostd.control.upload_gate on its own: a check runs on a thread of the upload pool, and an
    upload whose client left keeps its slot until its check has ended."""
    gate = UploadGate(threads=1, per_user=1, staging_bytes_per_user=10)
    started, release = threading.Event(), threading.Event()

    def check() -> str:
        started.set()
        release.wait(30)
        return threading.current_thread().name

    async def scenario() -> str:
        with gate.admit("alice") as progress:
            left = asyncio.ensure_future(progress.run(check))
            await asyncio.to_thread(started.wait, 30)
            left.cancel()  # the client went away; the check runs on
        with pytest.raises(RateLimited) as refused:
            gate.admit("alice")
        assert refused.value.headers["Retry-After"] == "5"
        with gate.admit("bob"), pytest.raises(PayloadTooLarge,
                                              match="HOSTD_UPLOAD_STAGING_MB_PER_USER"):
            gate.admit("carol").stage(11)
        release.set()
        for _ in range(300):  # bounded: until the first check has ended
            try:
                with gate.admit("alice") as again:
                    return await again.run(lambda: threading.current_thread().name)
            except RateLimited:
                await asyncio.sleep(0.01)
        raise AssertionError("alice's slot was never released")

    try:
        assert asyncio.run(scenario()).startswith("upload")
    finally:
        gate.close()

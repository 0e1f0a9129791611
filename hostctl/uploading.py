"""Sending a source archive to `PUT /api/projects/:id/source` (HostdClient.upload_source).

Streamed from the file in pieces (never whole in memory) through httpx, with a
Content-Length so hostd can refuse an oversized body at once; `on_progress` hears of
every piece sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from hostctl.transport import reply_of

if TYPE_CHECKING:
    from hostctl.client import Deployment, Project
    from hostctl.transport import HttpxTransport, Reply

CHUNK_BYTES = 256 * 1024
# hostd checks every member before it answers: a big archive takes a while after the body.
UPLOAD_TIMEOUT_S = 600.0


class SourceUpload(TypedDict):
    project: Project
    deployment: Deployment | None  # None: the same source as before, nothing deployed
    message: str
    unchanged: bool  # hostd answered 200, not 202


def send_archive(http: HttpxTransport, path: str, archive: Path,
                 on_progress: Callable[[int], None] | None) -> Reply:
    import httpx

    def pieces() -> Iterator[bytes]:
        with archive.open("rb") as handle:
            while piece := handle.read(CHUNK_BYTES):
                yield piece
                if on_progress is not None:
                    on_progress(len(piece))

    headers = {"Content-Type": "application/gzip",
               "Content-Length": str(archive.stat().st_size)}
    with http.errors():
        response = http.client.put(path, content=pieces(), headers=headers,
                                   timeout=httpx.Timeout(UPLOAD_TIMEOUT_S))
    return reply_of(response)


def source_upload(status: int, body: Any) -> SourceUpload:
    return {"project": body["project"], "deployment": body.get("deployment"),
            "message": str(body.get("message", "")), "unchanged": status == 200}

"""`PUT /api/projects/:id/source`: the code of an upload project, a gzip'd tar (hostctl up).

The body is streamed to a file in the project's sources directory in pieces (never held
whole in memory) under its own cap, HOSTD_MAX_SOURCE_MB (the small JSON cap,
HOSTD_MAX_BODY_BYTES, does not apply to this route: see hostd.api.middleware), and the
user's (hostd.control.upload_gate: uploads at once, bytes staged at once). Every member is
checked before the archive is kept (hostd.control.upload), on the upload threads, under
a deadline; the deploy then unpacks it into a fresh directory of its own.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from functools import partial
from pathlib import Path

import anyio
from fastapi import APIRouter, Request, Response

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import (
    CurrentUser,
    LifecycleDep,
    OwnedProject,
    SessionDep,
    SettingsDep,
    UploadsDep,
    ViewDep,
)
from hostd.control import upload
from hostd.control.lifecycle import Lifecycle
from hostd.control.steps import upload_limits
from hostd.control.upload_gate import Upload
from hostd.errors import Conflict, PayloadTooLarge, ValidationError
from hostd.store.models import (
    DeploymentPublic,
    Project,
    ProjectSource,
    ProjectStatus,
    SourceUploaded,
    User,
)
from hostd.store.projects import PublicView

router = APIRouter(route_class=BodyTypedRoute)
GZIP_TYPES = ("application/gzip", "application/x-gzip")
# What hostd.api.middleware.BodyLimitMiddleware leaves to this route's own cap.
UPLOAD_PATH = re.compile(r"^/api/projects/[^/]+/source$")
WRITE_CHUNK = 1024 * 1024  # pieces gathered before a write on a worker thread
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_BODY = {"requestBody": {"required": True, "content": dict.fromkeys(GZIP_TYPES, _BINARY)}}


def is_upload_request(method: str, path: str) -> bool:
    return method == "PUT" and UPLOAD_PATH.match(path) is not None


@router.put("/{project_id}/source", status_code=202, response_model=SourceUploaded,
            openapi_extra=_BODY,
            responses={200: {"model": SourceUploaded,
                             "description": "The same source as the current upload: unchanged"}})
async def put_source(
    request: Request, response: Response, project: OwnedProject, session: SessionDep,
    user: CurrentUser, settings: SettingsDep, uploads: UploadsDep, view: ViewDep,
    lifecycle: LifecycleDep,
) -> SourceUploaded:
    """Deploy a gzip'd tar of the project's code (202, with the deployment it started);
    the same archive as the current upload changes nothing (200, "unchanged")."""
    if project.source != ProjectSource.upload:
        raise Conflict(f"{project.name} deploys from a git repository, not from uploads")
    with uploads.admit(user.id) as progress:  # 429 past HOSTD_UPLOADS_PER_USER
        staged, digest = await _receive(request, upload.sources_dir(settings.data_dir,
                                                                    project.id),
                                        settings.max_source_mb * 2**20, progress)
        try:
            await progress.run(partial(_check, staged, upload_limits(settings)))
            status, answer = await anyio.to_thread.run_sync(partial(
                _accept, session, project, user, settings.data_dir, view, lifecycle, staged,
                digest))
        finally:
            await anyio.to_thread.run_sync(partial(staged.unlink, missing_ok=True))
    response.status_code = status
    return answer


async def _receive(request: Request, directory: Path, cap: int,
                   progress: Upload) -> tuple[Path, str]:
    """The body in a new file of `directory` and its sha256; 413 past `cap` bytes or
    past the user's staging cap."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(_too_large(cap))
    await anyio.to_thread.run_sync(partial(directory.mkdir, parents=True, exist_ok=True,
                                           mode=0o700))
    fd, name = tempfile.mkstemp(dir=directory, prefix="incoming-", suffix=".tar.gz")
    path, digest, size = Path(name), hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            pending = bytearray()
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap:
                    raise PayloadTooLarge(_too_large(cap))
                progress.stage(len(chunk))
                digest.update(chunk)
                pending += chunk
                if len(pending) >= WRITE_CHUNK:
                    await anyio.to_thread.run_sync(out.write, bytes(pending))
                    pending.clear()
            await anyio.to_thread.run_sync(out.write, bytes(pending))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise ValidationError("the body is empty: send a gzip'd tar of the source")
    return path, digest.hexdigest()


def _too_large(cap: int) -> str:
    return f"the archive is larger than {cap // 2**20} MB (HOSTD_MAX_SOURCE_MB)"


def _check(staged: Path, limits: upload.ArchiveLimits) -> None:
    """Every member checked (400 naming the first bad one), on an upload thread."""
    try:
        upload.check_archive(staged, limits)
    except upload.UnsafeArchive as exc:
        raise ValidationError(str(exc)) from None


def _accept(session: SessionDep, project: Project, user: User, data_dir: Path,
            view: PublicView, lifecycle: Lifecycle, staged: Path,
            digest: str) -> tuple[int, SourceUploaded]:
    """Deploy the checked archive, unless it is the source the project has already (and
    did not fail on)."""
    session.refresh(project)
    kept = upload.archive_path(data_dir, project.id)
    if project.upload_digest == digest and kept.is_file() \
            and project.status != ProjectStatus.error:
        message = f"unchanged: {project.name} already has this source (nothing deployed)"
        return 200, SourceUploaded(project=view.of_project(user, project), message=message)
    deployment = lifecycle.deploy_upload(session, project, user, staged, digest)
    session.refresh(project)
    return 202, SourceUploaded(project=view.of_project(user, project),
                               deployment=DeploymentPublic.of(deployment),
                               message=f"Deploying the uploaded source of {project.name}")

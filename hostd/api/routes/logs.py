"""Build and runtime logs: a tail as JSON, or followed as Server-Sent Events (which end,
like every stream, when their token is revoked or expires: hostd.api.tokenwatch).

A followed log is one of the user's streams (hostd.control.streams): past
HOSTD_MAX_STREAMS_PER_USER open ones, a 429. Lines are bounded in length
(hostd.engine.logs) and a tail in bytes, so an app's log cannot grow hostd's memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Query
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import (
    DbDep,
    FollowersDep,
    OwnedProject,
    RuntimeDep,
    SessionDep,
    SettingsDep,
    StreamsDep,
)
from hostd.api.sse import STREAM_RESPONSES, EventStreamResponse, encode
from hostd.api.tokenwatch import TokenWatch, TokenWatchDep
from hostd.control import buildlog, logfollow, processlogs
from hostd.control.followers import LogFollowers
from hostd.control.runtime import EngineUnavailable, Runtime
from hostd.control.streams import StreamSlots
from hostd.errors import NotFound, RateLimited
from hostd.store import formation
from hostd.store.models import Deployment, DeploymentStatus, LogLines, Project

router = APIRouter(route_class=BodyTypedRoute)
Source = Literal["build", "runtime"]
POLL_S = 0.25


def sse(event: str, data: dict) -> bytes:
    return encode(None, event, data)


def latest_deployment(session: Session, project: Project) -> Deployment | None:
    query = (select(Deployment).where(Deployment.project_id == project.id)
             .order_by(col(Deployment.started_at).desc()))
    return session.exec(query).first()


@router.get("/{project_id}/logs", response_model=LogLines,
            responses={200: {"content": {"application/json": {},
                                         **STREAM_RESPONSES[200]["content"]}}})
def logs(
    project: OwnedProject, session: SessionDep, settings: SettingsDep, db: DbDep,
    runtime: RuntimeDep, followers: FollowersDep, watch: TokenWatchDep, streams: StreamsDep,
    source: Source = "runtime",
    tail: Annotated[int, Query(ge=0, le=10000)] = 100,
    follow: bool = False,
    process: Annotated[str | None, Query(max_length=40)] = None,
) -> LogLines | EventStreamResponse:
    """The last `tail` lines; with `follow=true`, an SSE stream of `log` events, then `end`.
    Runtime lines come from every replica, each marked with its process (`web.1`);
    `process=worker` or `process=web.2` reads only those."""
    if source == "build":
        deployment = latest_deployment(session, project)
        if deployment is None:
            raise NotFound("This project has no deployment yet")
        path = buildlog.log_path(settings.data_dir, project.id, deployment.id)
        if follow:
            return _stream(streams, project, _follow_build(
                db, settings.data_dir, deployment, tail), watch)
        return LogLines(source=source, lines=buildlog.tail(path, tail))
    if not project.container_id:
        raise NotFound("This project has no container yet: see its build log (source=build)")
    if not runtime.reachable():
        raise EngineUnavailable("the Docker engine does not answer")
    chosen = processlogs.sources(formation.rows(session, project.id), project, process)
    if follow:
        processlogs.check_follow(followers, chosen)  # 429 now, while an answer can be one
        return _stream(streams, project, _follow_runtime(
            runtime, chosen, tail, followers, _relister(db, project.id, process)), watch)
    lines, marks = processlogs.tail(runtime, chosen, tail)
    return LogLines(source=source, lines=lines, processes=marks)


def _stream(streams: StreamSlots, project: Project, events: AsyncIterator[bytes],
            watch: TokenWatch) -> EventStreamResponse:
    # Ends the generator the moment the client leaves (or the token is revoked), which
    # closes Docker's log stream; the stream slot (429 past the owner's cap) is given back
    # however it ends.
    return EventStreamResponse(events, watch=watch, lease=streams.acquire(project.user_id))


async def _follow_build(db: Engine, data_dir: Path, deployment: Deployment,
                        tail: int) -> AsyncIterator[bytes]:
    path = buildlog.log_path(data_dir, deployment.project_id, deployment.id)
    follower = buildlog.FileFollower(path)
    for line in buildlog.tail(path, tail):
        yield sse("log", {"line": line})
    while True:  # EventStreamResponse cancels this generator when the client leaves
        done = await anyio.to_thread.run_sync(_deployment_done, db, deployment.id)
        lines = follower.rest() if done else follower.poll()
        for line in lines:
            yield sse("log", {"line": line})
        if done:
            break
        await asyncio.sleep(POLL_S)
    yield sse("end", {"reason": "deploy finished"})


def _deployment_done(db: Engine, deployment_id: str) -> bool:
    with Session(db) as session:
        row = session.get(Deployment, deployment_id)
        return row is None or row.status != DeploymentStatus.running


async def _follow_runtime(runtime: Runtime, chosen: list[processlogs.Source], tail: int,
                          followers: LogFollowers, relist: logfollow.Relist,
                          ) -> AsyncIterator[bytes]:
    try:
        async for name, line in logfollow.follow(runtime, followers, chosen, tail, relist):
            yield sse("log", {"line": line, "process": name})
    except RateLimited:  # filled up since the route checked
        yield sse("end", {"reason": "hostd follows too many logs right now"})
        return
    yield sse("end", {"reason": "the container stopped" if len(chosen) == 1
                      else "the containers stopped"})


def _relister(db: Engine, project_id: str, process: str | None) -> logfollow.Relist:
    """The project's replicas that `process` names, as the database has them now."""
    def relist() -> list[processlogs.Source]:
        with Session(db) as session:
            project = session.get(Project, project_id)
            if project is None:
                return []
            return processlogs.matching(formation.rows(session, project_id), project, process)
    return relist

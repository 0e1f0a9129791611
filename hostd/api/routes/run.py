"""`POST /api/projects/:id/run`: a one-off command in a fresh container of the project's
current release (an extension of the contract; hostd.control.oneoff).

The body is `{command: [argv…], timeout?: seconds}`: an argv list, never a shell string
(`["sh", "-c", "…"]` when a shell is wanted). The answer is an SSE stream: `output
{line}` for each line the command prints (stdout and stderr), then `exit {code,
timed_out}`. Errors found before it starts (no release yet, too many runs, a bad body)
are the contract's error body. The container is removed when the command ends, when it
runs out of time (then killed), when the client leaves, and when the token that started
it is revoked or expires (logout, logout-all, a password change: then `end {reason,
error, statusCode}` is the last event, as on every stream: hostd.api.tokenwatch). A run
is one of its user's streams (hostd.control.streams): past HOSTD_MAX_STREAMS_PER_USER, a 429.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

import anyio
from fastapi import APIRouter
from pydantic import ConfigDict, field_validator
from pydantic import Field as PydanticField

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import (
    CurrentUser,
    FollowersDep,
    OneOffsDep,
    OwnedProject,
    RuntimeDep,
    SessionDep,
    SettingsDep,
    StreamsDep,
)
from hostd.api.sse import STREAM_RESPONSES, EventStreamResponse, encode
from hostd.api.tokenwatch import TokenWatchDep
from hostd.control.followers import LogFollowers
from hostd.control.oneoff import OneOff, OneOffs
from hostd.control.runtime import Runtime
from hostd.errors import ValidationError
from hostd.store import configvars
from hostd.store.models import _Body

router = APIRouter(route_class=BodyTypedRoute)
ALL_LINES = 1_000_000  # the log "tail" of a container that just started: all of it


class RunBody(_Body):
    model_config = ConfigDict(strict=True, str_max_length=4096)
    command: list[str] = PydanticField(min_length=1, max_length=256)
    timeout: int | None = PydanticField(None, ge=1)

    @field_validator("command")
    @classmethod
    def _argv(cls, value: list[str]) -> list[str]:
        if not value[0] or any("\x00" in arg for arg in value):
            raise ValueError("command must be an argv list: a non-empty program, no NUL")
        return value


@router.post("/{project_id}/run", responses=STREAM_RESPONSES)
async def run(body: RunBody, project: OwnedProject, session: SessionDep, user: CurrentUser,
              watch: TokenWatchDep, settings: SettingsDep, streams: StreamsDep,
              followers: FollowersDep, oneoffs: OneOffsDep,
              runtime: RuntimeDep) -> EventStreamResponse:
    """Run `command` once in a fresh container of the current release: its config vars,
    data and limits, no router traffic. Streams `output` lines, then `exit`; ends with
    its token."""
    limit = settings.run_timeout_s
    if body.timeout is not None and body.timeout > limit:
        raise ValidationError(f"timeout may be at most {limit} s (HOSTD_RUN_TIMEOUT)")
    lease = streams.acquire(user.id)  # 429 before any container is made
    try:
        followers.check()  # its output is read on the log followers' threads
        env = await anyio.to_thread.run_sync(configvars.load, session, project.id)
        one = await anyio.to_thread.run_sync(partial(
            oneoffs.start, project, user, body.command, env, body.timeout or limit))
    except BaseException:
        lease.release()
        raise
    return EventStreamResponse(_output(runtime, followers, oneoffs, one), watch=watch, lease=lease)


async def _output(runtime: Runtime, followers: LogFollowers, oneoffs: OneOffs,
                  one: OneOff) -> AsyncIterator[bytes]:
    try:
        stream = await anyio.to_thread.run_sync(runtime.follow_logs, one.container_id,
                                                ALL_LINES)
        # The wait returns at the exit or the time limit; then the container goes, which
        # ends its log stream too.
        waiter = asyncio.wrap_future(followers.start(partial(_wait, oneoffs, one)))
        async for line in followers.lines(stream):
            yield encode(None, "output", {"line": line.text})
        code = await waiter
        # Removed before its exit code is told: a client that leaves on the code (as
        # hostctl run does) finds nothing left. The `finally` covers every other end.
        await anyio.to_thread.run_sync(oneoffs.finish, one)
        yield encode(None, "exit", {"code": code, "timed_out": code is None})
    finally:
        await anyio.to_thread.run_sync(oneoffs.finish, one)


def _wait(oneoffs: OneOffs, one: OneOff) -> int | None:
    code = oneoffs.wait(one)
    if code is None:  # out of time: killing it ends the output
        oneoffs.finish(one)
    return code

"""Typed dependencies: the daemon's services, a DB session, the current user, the
caller's project.

The one place (with the app factory) that reads `app.state`: routes take only the parts
of the services they name (`SettingsDep`, `DbDep`, `ChangesDep`, `ViewDep` ...), never the
whole. The lean read routes' `CallerDep` is the caller and the reads in one node (the
event stream's caller is its own), where each node per request counts.

The ownership rule lives here once: `OwnedProject` loads a project by id *for the
caller* or raises NotFound, so no route can forget it.

Dependencies that only read `app.state` or headers are `async def`: FastAPI runs a
sync dependency in the thread pool, and those hops were most of a request's cost.
Only the ones that touch the database (blocking) stay sync. Each part is read straight
from the services (`services_of`), not through a dependency of its own: one node less
per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, cast

import anyio
from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session, select

from hostd.api import session as browser
from hostd.config import Settings
from hostd.control.change_runner import ChangeRunner
from hostd.control.cron import Scheduler
from hostd.control.deployer import Deployer
from hostd.control.followers import LogFollowers
from hostd.control.lifecycle import Lifecycle
from hostd.control.oneoff import OneOffs
from hostd.control.ratelimit import AuthLimits
from hostd.control.runtime import Runtime
from hostd.control.streams import StreamSlots
from hostd.control.upload_gate import UploadGate
from hostd.errors import Unauthorized
from hostd.events import EventHub
from hostd.services import Services
from hostd.store import projects
from hostd.store.auth import (
    PasswordHasher,
    TokenClaims,
    TokenService,
    VerifiedTokenCache,
    is_current,
)
from hostd.store.metrics import MetricsStore
from hostd.store.models import Project, RevokedToken, User
from hostd.store.projects import PublicView
from hostd.store.reads import Reads


def services_of(request: Request) -> Services:
    """The daemon's services (for a dependency that is its own only node)."""
    return request.app.state.services


async def get_settings(request: Request) -> Settings:
    return services_of(request).settings


async def get_db(request: Request) -> Engine:
    return services_of(request).db


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Creating a session does no I/O (it connects lazily, in the route's thread);
    # closing one returns its connection to the pool.
    session = Session(services_of(request).db, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


async def get_hasher(request: Request) -> PasswordHasher:
    return services_of(request).hasher


async def get_tokens(request: Request) -> TokenService:
    return services_of(request).tokens


async def get_token_cache(request: Request) -> VerifiedTokenCache:
    return services_of(request).token_cache


async def get_auth_limits(request: Request) -> AuthLimits:
    return services_of(request).auth_limits


async def get_streams(request: Request) -> StreamSlots:
    return services_of(request).streams


async def get_metrics(request: Request) -> MetricsStore:
    return services_of(request).metrics


async def get_hub(request: Request) -> EventHub:
    return services_of(request).hub


async def get_runtime(request: Request) -> Runtime:
    return services_of(request).runtime


async def get_lifecycle(request: Request) -> Lifecycle:
    return services_of(request).lifecycle


async def get_changes(request: Request) -> ChangeRunner:
    return services_of(request).changes


async def get_followers(request: Request) -> LogFollowers:
    return services_of(request).followers


async def get_view(request: Request) -> PublicView:
    return services_of(request).reads.view


async def get_deployer(request: Request) -> Deployer:
    return services_of(request).deployer


async def get_oneoffs(request: Request) -> OneOffs:
    return services_of(request).oneoffs


async def get_cron(request: Request) -> Scheduler:
    return services_of(request).cron


async def get_uploads(request: Request) -> UploadGate:
    return services_of(request).uploads


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Engine, Depends(get_db)]
SessionDep = Annotated[Session, Depends(get_session)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]
TokenCacheDep = Annotated[VerifiedTokenCache, Depends(get_token_cache)]
AuthLimitsDep = Annotated[AuthLimits, Depends(get_auth_limits)]
MetricsDep = Annotated[MetricsStore, Depends(get_metrics)]
StreamsDep = Annotated[StreamSlots, Depends(get_streams)]
HubDep = Annotated[EventHub, Depends(get_hub)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
LifecycleDep = Annotated[Lifecycle, Depends(get_lifecycle)]
ChangesDep = Annotated[ChangeRunner, Depends(get_changes)]
FollowersDep = Annotated[LogFollowers, Depends(get_followers)]
ViewDep = Annotated[PublicView, Depends(get_view)]  # a project's public shape
DeployerDep = Annotated[Deployer, Depends(get_deployer)]
OneOffsDep = Annotated[OneOffs, Depends(get_oneoffs)]
UploadsDep = Annotated[UploadGate, Depends(get_uploads)]
CronDep = Annotated[Scheduler, Depends(get_cron)]


def parse_bearer(header: str) -> str:
    """The token of an `Authorization: Bearer <token>` header, or Unauthorized."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


@dataclass(frozen=True)
class Credential:
    token: str
    from_cookie: bool  # a browser session's cookie (hostd.api.session), not a Bearer token


def request_credential(request: Request, query_token: str | None = None) -> Credential:
    """The Bearer token (or a stream's `access_token`), or without an Authorization header
    a browser session's cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        return Credential(parse_bearer(header), from_cookie=False)
    if query_token:
        return Credential(query_token, from_cookie=False)
    cookie = browser.session_cookie(request)
    if cookie is None:
        raise Unauthorized()
    return Credential(cookie, from_cookie=True)


def user_for_claims(db: Engine, claims: TokenClaims) -> User:
    """The token's user, in one query that also checks the token was not revoked, alone
    or with all of its user's (an older token generation)."""
    revoked = select(RevokedToken.jti).where(RevokedToken.jti == claims.jti).exists()
    with Session(db, expire_on_commit=False) as session:
        row = session.exec(select(User, revoked).where(User.id == claims.user_id)).first()
        if row is not None:
            session.expunge(row[0])  # shared read-only by the requests that reuse the token
    if row is None:
        raise Unauthorized("The token's user no longer exists")
    user, is_revoked = row
    if is_revoked or not is_current(claims, user):
        raise Unauthorized("The token has been revoked: log in again")
    return user


async def verified(services: Services, token: str,
                   claims: TokenClaims | None = None) -> tuple[TokenClaims, User]:
    """The token's claims and user: from the token cache, else verified (unless `claims`
    are its, just verified) and looked up (in a thread: the database blocks) and cached."""
    hit = services.token_cache.get(token)
    if hit is not None:
        return hit
    claims = claims or services.tokens.verify(token)
    user = await anyio.to_thread.run_sync(user_for_claims, services.db, claims)
    services.token_cache.put(token, claims, user)
    return claims, user


@dataclass(frozen=True)
class Authenticated:
    token: str
    claims: TokenClaims
    user: User


AUTHENTICATED = "hostd.authenticated"  # scope key: the request's caller, found once


async def authenticated(request: Request, query_token: str | None = None) -> Authenticated:
    """The caller of this request: their token's kind fits how it came (a session's only
    in the cookie, and then with its CSRF header: hostd.api.session), before the token's
    revocation is looked up. Found once per request."""
    known = request.scope.get(AUTHENTICATED)
    if known is not None:
        return cast(Authenticated, known)
    services = services_of(request)
    credential = request_credential(request, query_token)
    hit = services.token_cache.get(credential.token)
    claims = hit[0] if hit is not None else services.tokens.verify(credential.token)
    browser.admit(request, services.tokens, claims, from_cookie=credential.from_cookie)
    claims, user = await verified(services, credential.token, claims)
    request.scope[AUTHENTICATED] = found = Authenticated(credential.token, claims, user)
    return found


async def get_claims(request: Request) -> TokenClaims:
    return (await authenticated(request)).claims


ClaimsDep = Annotated[TokenClaims, Depends(get_claims)]


async def get_current_user(request: Request) -> User:
    """The caller, from their Bearer token or session cookie. One dependency with no
    dependencies of its own: each node FastAPI solves costs more than a cached lookup."""
    return (await authenticated(request)).user


CurrentUser = Annotated[User, Depends(get_current_user)]


@dataclass(frozen=True)
class Caller:
    user: User
    reads: Reads


async def get_caller(request: Request) -> Caller:
    """The caller and the reads in one dependency, for the read routes (each
    dependency is a node FastAPI solves per request)."""
    return Caller(await get_current_user(request), services_of(request).reads)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_owned_project(project_id: str, session: SessionDep, user: CurrentUser) -> Project:
    project = projects.get_owned(session, user, project_id)
    # End the read transaction: its pooled connection goes back now, not when the request
    # ends. Routes then open short sessions of their own (the status board does); holding
    # one connection while waiting for another is how a busy pool deadlocks.
    session.commit()
    return project


OwnedProject = Annotated[Project, Depends(get_owned_project)]

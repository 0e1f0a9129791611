"""Typed dependencies: settings, DB session, the current user, the caller's project.

The ownership rule lives here once: `OwnedProject` loads a project by id *for the
caller* or raises NotFound, so no route can forget it.

Dependencies that only read `app.state` or headers are `async def`: FastAPI runs a
sync dependency in the thread pool, and those hops were most of a request's cost.
Only the ones that touch the database (blocking) stay sync.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session, select

from hostd.config import Settings
from hostd.control.lifecycle import Lifecycle
from hostd.errors import Unauthorized
from hostd.store import projects
from hostd.store.auth import PasswordHasher, TokenClaims, TokenService, VerifiedTokenCache
from hostd.store.metrics import MetricsStore
from hostd.store.models import Project, RevokedToken, User


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Creating a session does no I/O (it connects lazily, in the route's thread);
    # closing one returns its connection to the pool.
    session = Session(request.app.state.db_engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


async def get_hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


async def get_tokens(request: Request) -> TokenService:
    return request.app.state.tokens


async def get_metrics(request: Request) -> MetricsStore:
    return request.app.state.metrics


async def get_lifecycle(request: Request) -> Lifecycle:
    return request.app.state.lifecycle


SettingsDep = Annotated[Settings, Depends(get_settings)]
LifecycleDep = Annotated[Lifecycle, Depends(get_lifecycle)]
SessionDep = Annotated[Session, Depends(get_session)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]
MetricsDep = Annotated[MetricsStore, Depends(get_metrics)]


def parse_bearer(header: str) -> str:
    """The token of an `Authorization: Bearer <token>` header, or Unauthorized."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


async def bearer_token(request: Request) -> str:
    return parse_bearer(request.headers.get("authorization", ""))


async def get_claims(token: Annotated[str, Depends(bearer_token)],
                     tokens: TokensDep) -> TokenClaims:
    return tokens.verify(token)  # HMAC over a few hundred bytes: microseconds


ClaimsDep = Annotated[TokenClaims, Depends(get_claims)]


def user_for_claims(db: Engine, claims: TokenClaims) -> User:
    """The token's user, in one query that also checks the token was not revoked."""
    revoked = select(RevokedToken.jti).where(RevokedToken.jti == claims.jti).exists()
    with Session(db, expire_on_commit=False) as session:
        row = session.exec(select(User, revoked).where(User.id == claims.user_id)).first()
        if row is not None:
            session.expunge(row[0])  # shared read-only by the requests that reuse the token
    if row is None:
        raise Unauthorized("The token's user no longer exists")
    user, is_revoked = row
    if is_revoked:
        raise Unauthorized("The token has been revoked: log in again")
    return user


async def get_current_user(request: Request, token: Annotated[str, Depends(bearer_token)],
                           tokens: TokensDep) -> User:
    cache: VerifiedTokenCache = request.app.state.token_cache
    hit = cache.get(token)
    if hit is not None:
        return hit[1]
    claims = tokens.verify(token)
    user = await anyio.to_thread.run_sync(user_for_claims, request.app.state.db_engine, claims)
    cache.put(token, claims, user)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_owned_project(project_id: str, session: SessionDep, user: CurrentUser) -> Project:
    project = projects.get_owned(session, user, project_id)
    # End the read transaction: its pooled connection goes back now, not when the request
    # ends. Routes then open short sessions of their own (the status board does); holding
    # one connection while waiting for another is how a busy pool deadlocks.
    session.commit()
    return project


OwnedProject = Annotated[Project, Depends(get_owned_project)]

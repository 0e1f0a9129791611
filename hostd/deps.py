"""Typed dependencies: settings, DB session, the current user, the caller's project.

The ownership rule lives here once: `OwnedProject` loads a project by id *for the
caller* or raises NotFound, so no route can forget it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from hostd import auth, projects
from hostd.auth import PasswordHasher, TokenClaims, TokenService
from hostd.config import Settings
from hostd.errors import Unauthorized
from hostd.lifecycle import Lifecycle
from hostd.metrics import MetricsStore
from hostd.models import Project, User


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.db_engine, expire_on_commit=False) as session:
        yield session


def get_hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


def get_tokens(request: Request) -> TokenService:
    return request.app.state.tokens


def get_metrics(request: Request) -> MetricsStore:
    return request.app.state.metrics


def get_lifecycle(request: Request) -> Lifecycle:
    return request.app.state.lifecycle


SettingsDep = Annotated[Settings, Depends(get_settings)]
LifecycleDep = Annotated[Lifecycle, Depends(get_lifecycle)]
SessionDep = Annotated[Session, Depends(get_session)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]
MetricsDep = Annotated[MetricsStore, Depends(get_metrics)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def get_claims(request: Request, tokens: TokensDep) -> TokenClaims:
    return tokens.verify(bearer_token(request))


ClaimsDep = Annotated[TokenClaims, Depends(get_claims)]


def user_for_claims(session: Session, claims: TokenClaims) -> User:
    if auth.is_revoked(session, claims.jti):
        raise Unauthorized("The token has been revoked: log in again")
    user = session.get(User, claims.user_id)
    if user is None:
        raise Unauthorized("The token's user no longer exists")
    return user


def get_current_user(session: SessionDep, claims: ClaimsDep) -> User:
    return user_for_claims(session, claims)


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_owned_project(project_id: str, session: SessionDep, user: CurrentUser) -> Project:
    return projects.get_owned(session, user, project_id)


OwnedProject = Annotated[Project, Depends(get_owned_project)]

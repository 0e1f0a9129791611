"""`/api/auth`: register, log in, who am I, log out (the token is revoked)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import (
    AuthLimitsDep,
    ClaimsDep,
    CurrentUser,
    HasherDep,
    SessionDep,
    TokenCacheDep,
    TokensDep,
)
from hostd.errors import AuthError
from hostd.store import auth, users
from hostd.store.models import (
    AuthResponse,
    LoginBody,
    Message,
    RegisterBody,
    UserPublic,
    UserResponse,
)

router = APIRouter(route_class=BodyTypedRoute)
log = logging.getLogger("hostd.auth")


@router.post("/register", status_code=201, response_model=AuthResponse)
def register(
    body: RegisterBody, session: SessionDep, hasher: HasherDep, tokens: TokensDep,
    limits: AuthLimitsDep, request: Request,
) -> AuthResponse:
    limits.check_registration(_address(request))
    user = users.register(session, body, hasher)
    return AuthResponse(user=UserPublic.of(user), token=tokens.issue(user))


@router.post("/login", response_model=AuthResponse)
def login(
    body: LoginBody, session: SessionDep, hasher: HasherDep, tokens: TokensDep,
    limits: AuthLimitsDep, request: Request,
) -> AuthResponse:
    address = _address(request)
    limits.check_login(body.email, address)
    try:
        user = users.authenticate(session, body.email, body.password, hasher)
    except AuthError:
        limits.login_failed(body.email, address)
        raise
    limits.login_succeeded(body.email)
    return AuthResponse(user=UserPublic.of(user), token=tokens.issue(user))


def _address(request: Request) -> str:
    # The socket's peer: uvicorn runs with proxy_headers off, so no header can fake it.
    return request.client.host if request.client else "unknown"


@router.get("/me", response_model=UserResponse)
def me(user: CurrentUser) -> UserResponse:
    return UserResponse(user=UserPublic.of(user))


@router.post("/logout", response_model=Message)
def logout(session: SessionDep, claims: ClaimsDep, user: CurrentUser,
           token_cache: TokenCacheDep) -> Message:
    auth.revoke(session, claims)
    token_cache.forget_jti(claims.jti)
    log.info("auth: logout user=%s", user.id)
    return Message(message="Logged out: this token is revoked")


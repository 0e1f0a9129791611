"""`/api/auth`: register, log in, who am I, log out (the token is revoked), log out
everywhere (every token of the caller is), change the password (every other token is).

Each revocation is also told to the token cache, which drops what it holds of the user
and so makes the user's open streams recheck their tokens (hostd.api.tokenwatch)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import Session

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import (
    AuthLimitsDep,
    ClaimsDep,
    CurrentUser,
    HasherDep,
    SessionDep,
    SettingsDep,
    TokenCacheDep,
    TokensDep,
)
from hostd.api.reads import json_response
from hostd.control.ratelimit import AuthLimits
from hostd.errors import AuthError, Forbidden
from hostd.store import auth, users
from hostd.store.auth import PasswordHasher
from hostd.store.models import (
    AuthResponse,
    LoginBody,
    Message,
    PasswordChange,
    RegisterBody,
    User,
    UserPublic,
    UserResponse,
)

router = APIRouter(route_class=BodyTypedRoute)
log = logging.getLogger("hostd.auth")


def registration_open(settings: SettingsDep) -> None:
    """403 while HOSTD_REGISTRATION=closed, before the body is read or counted."""
    if settings.registration == "closed":
        raise Forbidden("Registration is closed on this daemon (HOSTD_REGISTRATION=closed): "
                        "its operator creates accounts with `hostd users add`")


@router.post("/register", status_code=201, response_model=AuthResponse,
             dependencies=[Depends(registration_open)])
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
    user = authenticate(body, session, hasher, limits, request)
    return AuthResponse(user=UserPublic.of(user), token=tokens.issue(user))


def authenticate(body: LoginBody, session: Session, hasher: PasswordHasher,
                 limits: AuthLimits, request: Request) -> User:
    """The user of an email and password, under the login limits (a failure counts)."""
    address = _address(request)
    limits.check_login(body.email, address)
    try:
        user = users.authenticate(session, body.email, body.password, hasher)
    except AuthError:
        limits.login_failed(body.email, address)
        raise
    limits.login_succeeded(body.email, address)
    return user


def _address(request: Request) -> str:
    # The socket's peer: uvicorn runs with proxy_headers off, so no header can fake it.
    return request.client.host if request.client else "unknown"


@router.get("/me", response_model=UserResponse)
async def me(user: CurrentUser) -> Response:
    # On the loop: the user comes from the token cache (a miss reads it in a thread).
    return json_response(UserResponse.model_construct(user=UserPublic.of(user)))


@router.post("/logout", response_model=Message)
def logout(session: SessionDep, claims: ClaimsDep, user: CurrentUser,
           token_cache: TokenCacheDep) -> Message:
    auth.revoke(session, claims)
    token_cache.forget(user.id, claims.jti)
    log.info("auth: logout user=%s", user.id)
    return Message(message="Logged out: this token is revoked")


@router.post("/logout-all", response_model=Message)
def logout_all(session: SessionDep, user: CurrentUser, token_cache: TokenCacheDep) -> Message:
    """Revoke every token of the caller, this one included: log out everywhere."""
    auth.revoke_all(session, user.id)
    token_cache.forget(user.id)
    log.info("auth: logout-all user=%s", user.id)
    return Message(message="Logged out everywhere: every token of this account is revoked")


@router.post("/password", response_model=Message)
def change_password(
    body: PasswordChange, session: SessionDep, claims: ClaimsDep, user: CurrentUser,
    hasher: HasherDep, token_cache: TokenCacheDep, limits: AuthLimitsDep, request: Request,
) -> Message:
    """A new password; 401 AuthError when the current one is wrong (counted as a failed
    login). Every other token of the caller is revoked, the one sent here stays valid."""
    address = _address(request)
    limits.check_login(user.email, address)
    try:
        users.change_password(session, user.id, body, hasher, keep_jti=claims.jti)
    except AuthError:
        limits.login_failed(user.email, address)
        raise
    limits.login_succeeded(user.email, address)
    token_cache.forget(user.id)
    return Message(message="Password changed: every other token of this account is revoked")


"""`/api/auth/session`: a browser's sign-in (the dashboard's), as a cookie.

`POST` takes `{email, password}` as `/login` does (its limits, its `AuthError`) and sets
the `hostd_session` cookie to a new session token instead of answering it, on the
dashboard's own name only (a 403 on any other); it answers `{user, csrf_token}`, the token
the page sends as `X-CSRF-Token` on every request, told nowhere else. `GET` (with the
cookie and that header, like every request) tells a page who it is. `DELETE` revokes the
session (as `/logout` does a token) and clears the cookie. The rules: hostd.api.session.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from hostd.api import session as browser
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
from hostd.api.routes.auth import authenticate
from hostd.store import auth
from hostd.store.models import LoginBody, Message, UserPublic

router = APIRouter(route_class=BodyTypedRoute)
log = logging.getLogger("hostd.auth")


class SessionResponse(BaseModel):
    user: UserPublic
    csrf_token: str


@router.post("/session", response_model=SessionResponse)
def sign_in(body: LoginBody, session: SessionDep, hasher: HasherDep, tokens: TokensDep,
            limits: AuthLimitsDep, request: Request, response: Response) -> SessionResponse:
    """Sign a browser in on http://hostd.localhost:<port>: the session cookie is set
    (HttpOnly, SameSite=Strict, host-only), and the answer has its CSRF token."""
    browser.require_dashboard(request)
    user = authenticate(body, session, hasher, limits, request)
    token = tokens.issue_session(user)
    claims = tokens.verify(token)
    browser.set_cookie(response, request, token, claims.expires_at)
    return SessionResponse(user=UserPublic.of(user), csrf_token=tokens.csrf_token(claims.jti))


@router.get("/session", response_model=SessionResponse)
def current(claims: ClaimsDep, user: CurrentUser, tokens: TokensDep) -> SessionResponse:
    """Who this session is (and its CSRF token, which the request had to send)."""
    return SessionResponse(user=UserPublic.of(user), csrf_token=tokens.csrf_token(claims.jti))


@router.delete("/session", response_model=Message)
def sign_out(session: SessionDep, claims: ClaimsDep, user: CurrentUser,
             token_cache: TokenCacheDep, request: Request, response: Response) -> Message:
    """Sign out: the session's token is revoked from now on, and the cookie cleared."""
    auth.revoke(session, claims)
    token_cache.forget(user.id, claims.jti)
    browser.clear_cookie(response, request)
    log.info("auth: session signed out user=%s", user.id)
    return Message(message="Signed out: this session is revoked")

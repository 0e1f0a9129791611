"""Browser sessions: the `hostd_session` cookie, worth nothing to whoever receives it
elsewhere.

Cookies ignore ports: a cookie of `127.0.0.1` (or of `hostd.localhost`) goes to every
server on that name, a tenant's app on its published port included. So:

- The dashboard lives on its own name, `http://hostd.localhost:<API port>/` (the pages
  on a loopback name redirect there: hostd.web.pages). `POST /api/auth/session` signs a
  browser in on that name only (403 elsewhere); the cookie is host-only for it, and the
  router never routes it, nor `*.hostd.localhost` (no handle may be `hostd`).
- The cookie holds a session token, a kind of its own (hostd.store.auth): a Bearer
  header (or `?access_token=`) with one is a 401, and the cookie with anything else is.
- Every request the cookie authenticates, reads and event streams included, must send
  `X-CSRF-Token`, equal to `TokenService.csrf_token(jti)` (an HMAC of the session's
  `jti` with the signing secret), else 403 `Forbidden`. The sign-in's answer is the only
  place that tells it: the page keeps it in its origin's storage, which no other origin
  (no other port) can read, so a server that gets the cookie can do nothing with it.
- A session lives HOSTD_SESSION_IDLE (8 h) unused: a request with a token older than
  `renew_after_s` gets a renewed cookie (same `jti`, so revoking it — `DELETE
  /api/auth/session`, logout-all, a password change — ends every renewal), never past
  JWT_EXPIRES_IN after sign-in.

A request with an `Authorization` header is a Bearer request: the cookie is ignored
(hostctl and curl are unaffected by any of this). The cookie is `HttpOnly`,
`SameSite=Strict` and `Path=/`. It is not `Secure`: hostd speaks plain HTTP on loopback,
and a `Secure` cookie is one the browser sends over HTTPS only; a request that reached
hostd over https gets a `Secure` cookie.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from fastapi import Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hostd.config import DASHBOARD_NAME, split_host
from hostd.errors import Forbidden, Unauthorized
from hostd.store.auth import TokenClaims, TokenService

COOKIE = "hostd_session"
CSRF_HEADER = "x-csrf-token"
RENEWED = "hostd.session_renewed"  # scope key: the Set-Cookie of a renewed session
_COOKIE_PREFIX = f"{COOKIE}=".encode()


def on_dashboard(request: Request) -> bool:
    """The request came to the dashboard's own name (with any port the Host check let in)."""
    try:
        return split_host(request.headers.get("host", ""))[0] == DASHBOARD_NAME
    except ValueError:
        return False


def require_dashboard(request: Request) -> None:
    if not on_dashboard(request):
        raise Forbidden(f"A browser signs in on the dashboard's own name only: "
                        f"http://{DASHBOARD_NAME}:{request.url.port or 80}/")


def session_cookie(request: Request) -> str | None:
    """The session cookie's token, taken on the dashboard's name only."""
    token = request.cookies.get(COOKIE)
    return token if token and on_dashboard(request) else None


def admit(request: Request, tokens: TokenService, claims: TokenClaims, *,
          from_cookie: bool) -> None:
    """The token's kind fits how it came, and a cookie's request carries its CSRF token;
    a cookie old enough is renewed on the way out (SessionRenewalMiddleware)."""
    if not from_cookie:
        if claims.is_session:
            raise Unauthorized("A browser session's token is no Bearer token: log in "
                               "(POST /api/auth/login) for one")
        return
    if not claims.is_session:
        raise Unauthorized("The session cookie holds no session: sign in again")
    check_csrf(request, tokens, claims)
    renewed = tokens.renewal(claims)
    if renewed is not None:
        response = Response()
        set_cookie(response, request, *renewed)
        request.scope[RENEWED] = response.headers["set-cookie"].encode("latin-1")


def check_csrf(request: Request, tokens: TokenService, claims: TokenClaims) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), tokens.csrf_token(claims.jti).encode()):
        raise Forbidden("A request made with the session cookie needs the session's "
                        "X-CSRF-Token header (given when the session signed in)")


def set_cookie(response: Response, request: Request, token: str, expires: datetime) -> None:
    max_age = max(1, int((expires - datetime.now(UTC)).total_seconds()))
    response.set_cookie(COOKIE, token, max_age=max_age, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


class SessionRenewalMiddleware:
    """Adds a renewed session's cookie (put in the scope by `admit`) to the response,
    streams included, unless the response sets that cookie itself (sign-in, sign-out)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_renewed(message: Message) -> None:
            renewed = scope.get(RENEWED)
            if message["type"] == "http.response.start" and renewed is not None:
                headers = list(message.get("headers", []))
                if not any(name == b"set-cookie" and value.startswith(_COOKIE_PREFIX)
                           for name, value in headers):
                    message = {**message, "headers": [*headers, (b"set-cookie", renewed)]}
            await send(message)

        await self.app(scope, receive, send_renewed)

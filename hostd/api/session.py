"""Browser sessions: the `hostd_session` cookie, and the CSRF rule for changes made with it.

The dashboard (hostd.web) signs in with `POST /api/auth/session`: the answer sets a cookie
holding an ordinary hostd token (revoked like any other: `DELETE /api/auth/session`,
logout-all, a password change) and gives the page that session's CSRF token, which the
page keeps in memory only. A script never sees the token itself.

- A request with an `Authorization` header is a Bearer request: the cookie is ignored
  (hostctl and curl are unaffected by any of this).
- Without one, the cookie's token authenticates it, through the same verification and
  token cache as a Bearer token (hostd.api.deps.get_current_user).
- A change (POST, PUT, PATCH, DELETE) authenticated by the cookie must also send
  `X-CSRF-Token`, equal to `TokenService.csrf_token(jti)` (an HMAC of the token's `jti`
  with the signing secret: nothing new is stored), else it is a 403 `Forbidden`. Before
  that, hostd.api.origin has refused changes from foreign `Origin`s.

The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (the browser sends it on
no request another site started, not even a top-level link), `Path=/`, and lives as long
as its token. It is not `Secure`: hostd speaks plain HTTP on loopback, and a `Secure`
cookie is one the browser sends over HTTPS only (some browsers make an exception for
`localhost`, not all), so it could be dropped. The cookie never leaves loopback: it is
host-only, and the router never routes `localhost` or `127.0.0.1` to an app. A request
that reached hostd over https gets a `Secure` cookie.
"""

from __future__ import annotations

import hmac

from fastapi import Request, Response

from hostd.api.origin import CHANGES
from hostd.errors import Forbidden, Unauthorized
from hostd.store.auth import TokenClaims, TokenService, VerifiedTokenCache

COOKIE = "hostd_session"
CSRF_HEADER = "x-csrf-token"


def cookie_token(request: Request, tokens: TokenService,
                 cache: VerifiedTokenCache | None = None) -> str:
    """The session cookie's token, checked against the CSRF rule when the request is a
    change; Unauthorized when there is no cookie (as with no Authorization header)."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise Unauthorized()
    if request.method in CHANGES:
        hit = cache.get(token) if cache is not None else None
        check_csrf(request, tokens, hit[0] if hit else tokens.verify(token))
    return token


def check_csrf(request: Request, tokens: TokenService, claims: TokenClaims) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), tokens.csrf_token(claims.jti).encode()):
        raise Forbidden("A change made with the session cookie needs the session's "
                        "X-CSRF-Token header (given by POST or GET /api/auth/session)")


def set_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(COOKIE, token, max_age=max_age, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")

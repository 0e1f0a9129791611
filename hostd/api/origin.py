"""Who may drive the API: the `Host` names it answers to, and the `Origin`s it takes
changes from. Pure ASGI, like hostd.api.middleware, and before everything but the access log.

*DNS rebinding.* A page on attacker.example whose name is then re-pointed at 127.0.0.1 is,
to the browser, same-origin with hostd: it may read hostd's answers. Its requests still say
`Host: attacker.example`, so hostd answers only names it knows to be its own: loopback
(`localhost`, `127.x.x.x`, `[::1]`) and the dashboard's `hostd.localhost`, bare or with
the API's port, and the entries of `HOSTD_ALLOWED_HOSTS`. Anything else, and an HTTP/1.1
request with no Host (or two), is a 400. `HOSTD_APPS_DOMAIN` and the names under it are the
tenants' apps: refused always (and as HOSTD_ALLOWED_HOSTS or FRONTEND_URL at start).

*Cross-site changes.* A page of any other origin — a tenant's app at
`http://shop.alice.localhost:8080` included — may still *send* requests to hostd (a form,
a `no-cors` fetch); the browser only hides the answer. Browsers put an `Origin` on every
such request, so a change (POST, PUT, PATCH, DELETE) whose Origin is neither FRONTEND_URL
nor the API's own (`http(s)://<the request's Host>`) is a 403. Programs that are not
browsers (hostctl, curl) send no Origin and pass. CORS (hostd.api.middleware) is untouched:
a preflight is an OPTIONS request, and a refused origin still gets no CORS headers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from hostd.api.middleware import send_json
from hostd.config import DASHBOARD_NAME, split_host
from hostd.config.domain import under
from hostd.errors import Forbidden, HostdError, ValidationError, error_body

CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SHOWN_MAX = 100  # characters of a refused Host or Origin quoted back


def is_loopback(name: str) -> bool:
    """`localhost` or a loopback address; never `*.localhost` (those are tenants' apps)."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


VERDICTS_KEPT = 256


class TrustedOriginMiddleware:
    def __init__(self, app: ASGIApp, *, port: int, allowed_hosts: Iterable[str],
                 frontend_url: str | None, apps_domain: str | None = None) -> None:
        self.app = app
        self.port = port
        self.apps_domain = apps_domain
        self.allowed = frozenset(split_host(entry) for entry in allowed_hosts)
        self.frontend = frontend_url.lower() if frontend_url else None
        self._verdicts: dict[str, bool] = {}  # Host value → allowed: parsing it costs more

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
        refusal = self._host_refusal(scope, hosts) or self._origin_refusal(scope, hosts)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        # The body, if any, is left unread: close rather than read it to keep the connection.
        body = error_body(refusal.error, refusal.message, refusal.status_code)
        await send_json(send, refusal.status_code, body, close=True)

    def host_allowed(self, value: str) -> bool:
        verdict = self._verdicts.get(value)
        if verdict is None:
            if len(self._verdicts) >= VERDICTS_KEPT:
                self._verdicts.clear()  # anyone can send new names: keep it bounded
            verdict = self._verdicts[value] = self._judge_host(value)
        return verdict

    def _judge_host(self, value: str) -> bool:
        try:
            name, port = split_host(value)
        except ValueError:
            return False
        if under(name, self.apps_domain):
            return False
        if (name, port) in self.allowed:
            return True
        if port not in (None, self.port):
            return False
        return is_loopback(name) or name == DASHBOARD_NAME or (name, None) in self.allowed

    def _host_refusal(self, scope: Scope, hosts: list[str]) -> HostdError | None:
        if len(hosts) == 1 and self.host_allowed(hosts[0]):
            return None
        if not hosts and scope.get("http_version") == "1.0":
            return None  # HTTP/1.0 may omit Host; a browser never does
        if not hosts:
            return ValidationError("The request has no Host header: HTTP/1.1 requires one")
        if len(hosts) > 1:
            return ValidationError("The request has more than one Host header")
        return ValidationError(
            f"The Host {hosts[0][:SHOWN_MAX]!r} is not one hostd answers to: use "
            f"http://127.0.0.1:{self.port}, or add the name to HOSTD_ALLOWED_HOSTS")

    def _origin_refusal(self, scope: Scope, hosts: list[str]) -> HostdError | None:
        if scope["method"] not in CHANGES:
            return None
        own = {f"http://{hosts[0].lower()}", f"https://{hosts[0].lower()}"} if hosts else set()
        for name, value in scope["headers"]:
            if name != b"origin":
                continue
            origin = value.decode("latin-1").lower()
            if origin != self.frontend and origin not in own:
                return Forbidden(
                    f"Changes are not taken from the origin {origin[:SHOWN_MAX]!r}: only "
                    "from FRONTEND_URL and hostd's own origin (programs send no Origin)")
        return None

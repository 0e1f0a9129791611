"""The routes of the browser front end: the dashboard's pages, `/docs`, `/redoc` and
`/static/…`, none of them in the OpenAPI document.

Every page is a static HTML file whose scripts are files of their own: the
Content-Security-Policy allows scripts from this origin only (no inline script, no
inline event handler, no `eval`), connections to this origin only, no plugins, no
framing, no `<base>`. The pages sign in and read data with `fetch` (hostd.api.session);
the server adds nothing user-supplied to any of them.

The dashboard lives on its own name, `hostd.localhost` (its session cookie is host-only
there: hostd.api.session): its pages asked for on a loopback name (`127.0.0.1`,
`localhost`, `[::1]`) redirect to the same path on that name and port.

Swagger UI and ReDoc need inline styles (they set `<style>` elements and `style`
attributes) and ReDoc a worker made from a `blob:`: their pages' policy allows those,
and nothing more than the dashboard's for scripts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from hostd.config import DASHBOARD_NAME, split_host
from hostd.errors import NotFound
from hostd.web.assets import Asset, Assets

_COMMON = ("default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
           "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
           "form-action 'self'")
PAGE_CSP = f"{_COMMON}; style-src 'self'"
DOCS_CSP = f"{_COMMON}; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
PAGES = {  # route → (file under pages/, its policy)
    "/": ("projects.html", PAGE_CSP),
    "/signin": ("signin.html", PAGE_CSP),
    "/projects/{project_id}": ("project.html", PAGE_CSP),
    "/docs": ("docs.html", DOCS_CSP),
    "/redoc": ("redoc.html", DOCS_CSP),
}
DASHBOARD_PAGES = frozenset({"projects.html", "signin.html", "project.html"})
# What stays as sent of a redirected path and query: the rest is percent-encoded.
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"


def _loopback_port(request: Request) -> tuple[bool, int | None]:
    """Whether the request's Host is a loopback name, and its port."""
    try:
        name, port = split_host(request.headers.get("host", ""))
    except ValueError:
        return False, None
    if name == "localhost":
        return True, port
    try:
        return ipaddress.ip_address(name).is_loopback, port
    except ValueError:
        return False, port


def _to_dashboard(request: Request) -> Response | None:
    """The redirect of a dashboard page asked for on a loopback name, or None."""
    loopback, port = _loopback_port(request)
    if not loopback:
        return None
    path = quote(request.scope.get("raw_path", b"/").decode("latin-1"), safe=_URL_SAFE)
    query = quote(request.scope.get("query_string", b"").decode("latin-1"), safe=_URL_SAFE)
    netloc = DASHBOARD_NAME if port is None else f"{DASHBOARD_NAME}:{port}"
    target = f"{request.url.scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    return Response(status_code=307, headers={**SECURITY_HEADERS, "location": target,
                                               "cache-control": "no-store"})


def _answer(asset: Asset, request: Request, headers: dict[str, str]) -> Response:
    headers = {**SECURITY_HEADERS, **headers, "etag": asset.etag, "cache-control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _page_route(pages: Assets, file: str, csp: str) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        redirect = _to_dashboard(request) if file in DASHBOARD_PAGES else None
        if redirect is not None:
            return redirect
        asset = pages.get(file)
        if asset is None:  # a broken install: say so as the API would
            raise NotFound(f"The page {file} is missing from this install")
        return _answer(asset, request, {"content-security-policy": csp})
    return page


def web_router(pages: Assets, static: Assets) -> APIRouter:
    """The pages (from `pages`) and the files under /static (from `static`)."""
    router = APIRouter(include_in_schema=False)
    for path, (file, csp) in PAGES.items():
        router.add_api_route(path, _page_route(pages, file, csp), methods=["GET"],
                             name=f"page:{file}")

    @router.get("/static/{path:path}", name="static")
    async def static_file(path: str, request: Request) -> Response:
        asset = static.get(path)
        if asset is None:
            raise NotFound("No such file")
        return _answer(asset, request, {})

    return router

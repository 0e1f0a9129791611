"""The routes of the browser front end: the dashboard's pages, `/docs`, `/redoc` and
`/static/…`, none of them in the OpenAPI document.

Every page is a static HTML file whose scripts are files of their own: the
Content-Security-Policy allows scripts from this origin only (no inline script, no
inline event handler, no `eval`), connections to this origin only, no plugins, no
framing, no `<base>`. The pages sign in and read data with `fetch` (hostd.api.session);
the server adds nothing user-supplied to any of them.

Swagger UI and ReDoc need inline styles (they set `<style>` elements and `style`
attributes) and ReDoc a worker made from a `blob:`: their pages' policy allows those,
and nothing more than the dashboard's for scripts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response

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


def _answer(asset: Asset, request: Request, headers: dict[str, str]) -> Response:
    headers = {**SECURITY_HEADERS, **headers, "etag": asset.etag, "cache-control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _page_route(pages: Assets, file: str, csp: str) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
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

"""What a request body must say it is: `application/json`, unless its route says otherwise.

A browser sends a cross-origin `text/plain` or form body without asking first (no CORS
preflight), but `application/json` only after a preflight that FRONTEND_URL alone passes.
So a POST, PUT, PATCH or DELETE that carries a body (Content-Length above 0, or chunked)
with a Content-Type its route does not take is a 415 `UnsupportedMediaType`, before the
body is read and before the token is checked. No body, no rule: a bodyless rollback or
DELETE needs no Content-Type.

A route takes `application/json` (any parameters, e.g. `; charset=utf-8`), unless it
declares its body's media types the way FastAPI documents a raw body, in `openapi_extra`,
which the OpenAPI document then shows too. An upload route would say:

    @router.put("/{project_id}/source", openapi_extra={"requestBody": {"required": True,
        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}}})

Every router is `APIRouter(route_class=BodyTypedRoute)`; tests/test_origin.py checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.datastructures import Headers

from hostd.errors import UnsupportedMediaType

JSON = "application/json"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def media_type(content_type: str) -> str:
    """`Application/JSON; charset=utf-8` → `application/json`."""
    return content_type.partition(";")[0].strip().lower()


def has_body(headers: Headers) -> bool:
    length = headers.get("content-length", "").strip()
    return (length.isdigit() and int(length) > 0) or "transfer-encoding" in headers


def accepted_media_types(openapi_extra: dict[str, Any] | None) -> frozenset[str]:
    content = ((openapi_extra or {}).get("requestBody") or {}).get("content")
    return frozenset(media_type(name) for name in content) if content else frozenset({JSON})


class BodyTypedRoute(APIRoute):
    """An APIRoute that refuses a body of a media type it does not declare (415)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        accepted = accepted_media_types(self.openapi_extra)
        wanted = " or ".join(sorted(accepted))

        async def typed(request: Request) -> Response:
            if request.method in BODY_METHODS and has_body(request.headers):
                given = request.headers.get("content-type")
                if given is None or media_type(given) not in accepted:
                    raise UnsupportedMediaType(
                        f"The request body must be sent as Content-Type: {wanted} "
                        f"(it was {(given or 'not given')[:100]})")
            return await handler(request)

        return typed

"""Pure ASGI middleware: the request-body cap, and the access log that is also the catch-all.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses such as SSE pass through
untouched and the per-request cost stays small.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hostd.errors import PayloadTooLarge, ValidationError, error_body, server_error_body

access_log = logging.getLogger("hostd.access")
error_log = logging.getLogger("hostd.errors")


async def send_json(send: Send, status: int, body: dict, close: bool = False) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, except that a refused preflight gets the contract's JSON body
    (Starlette answers it with a plain-text 400)."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {k: v for k, v in response.headers.items()
                   if k not in ("content-length", "content-type")}
        reason = bytes(response.body).decode(errors="replace")  # "Disallowed CORS origin"
        body = error_body(ValidationError.error, f"CORS preflight refused: {reason}",
                          response.status_code)
        return JSONResponse(body, status_code=response.status_code, headers=headers)


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413, by Content-Length or while streaming;
    requests `exempt(method, path)` names are left to their route (which has its own cap)."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 exempt: Callable[[str, str], bool] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
                self.exempt is not None and self.exempt(scope["method"], scope["path"])):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body,
                    # and the error handler renders it as PayloadTooLarge.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes"

    async def _reject(self, send: Send) -> None:
        exc = PayloadTooLarge(self._message())
        await send_json(send, exc.status_code, error_body(exc.error, exc.message, 413), close=True)


def logged_path(scope: Scope) -> str:
    """The path as the client sent it, still percent-encoded: `%0A` stays `%0A` (the
    formatter, hostd.logs, escapes what is left of control characters)."""
    raw = scope.get("raw_path")
    return raw.decode("ascii", "backslashreplace") if raw else scope["path"]


class AccessLogMiddleware:
    """`METHOD /path STATUS 1.2ms` for every request (never the query string, which may
    carry a token), and the last line of defence: an exception nothing else handled
    becomes the contract's 500 body, its traceback going to the log only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: int | None = None

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except Exception:
            error_log.exception("unhandled error on %s %s", scope["method"], logged_path(scope))
            if status is None:
                await send_json(send, 500, server_error_body())
            status = 500
        finally:
            ms = (time.perf_counter() - start) * 1000
            access_log.info("%s %s %d %.1fms", scope["method"], logged_path(scope), status or 500,
                            ms)

"""The router's own answers: small HTML pages for when no app can answer.

This is the data plane, seen in browsers: HTML, not the API's JSON error bodies.
"""

from __future__ import annotations

import html

from hostd.router.http11 import Framing, response_head

Page = tuple[list[tuple[bytes, bytes]], bytes]


def page(status: int, title: str, detail: str) -> Page:
    """Headers and body of a page saying `title`, then `detail`."""
    body = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{status} "
            f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(detail)}</p><hr><p><small>hostd router</small></p>"
            "</body></html>\n").encode()
    headers = [(b"content-type", b"text/html; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    return headers, body


def page_response(status: int, title: str, detail: str, keep_alive: bool,
                  client_http11: bool = True) -> bytes:
    """The whole response, head and body, ready to write to the client."""
    headers, body = page(status, title, detail)
    return response_head(status, b"", headers, Framing.LENGTH, keep_alive,
                         client_http11) + body

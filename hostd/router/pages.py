"""The router's own answers: small HTML pages for when no app can answer.

This is the data plane, seen in browsers: HTML, not the API's JSON error bodies. Anyone
who knows a host name reads them, so a page names the project's state and nothing else:
never its `status_reason`, which holds build output, commands and repository URLs. The
owner reads that through the API (`status_reason`) and `hostctl projects show`.
"""

from __future__ import annotations

import html

from hostd.router.http11 import Framing, response_head

Page = tuple[list[tuple[bytes, bytes]], bytes]
Answer = tuple[int, str, str]  # status, title, detail: what `page_response` takes

# A project's status, as a page says it. Whatever else a status may be: "is not running".
_STATES = {"deploying": "is deploying", "stopped": "is stopped", "error": "failed to start"}


def not_found() -> Answer:
    return 404, "Not found", ("No project is deployed at this address. Project URLs look "
                              "like http://<project>.<handle>.localhost:<port>/.")


def not_serving(name: str, status: str) -> Answer:
    """A project that exists and does not serve: its name and its state, no reason."""
    if status == "running":  # with no web replica: web scaled to 0, or no `web:` line
        return 503, f"{name} has no web process running", (
            f"The project {name} runs no web process, so it cannot answer requests.")
    state = _STATES.get(status, "is not running")
    return 503, f"{name} {state}", f"The project {name} {state}, so it cannot answer now."


def no_answer(status: int, name: str) -> Answer:
    """The app could not be reached, broke off, or answered garbage (502), or too late (504)."""
    late = " in time" if status == 504 else ""
    return status, "The app did not answer", f"{name} did not answer this request{late}."


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

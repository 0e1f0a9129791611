"""The router's HTTP/1.1 message heads and body framing: pure functions, no I/O.

Parsing is httptools' (llhttp, the parser uvicorn uses); this module only decides which
headers cross the proxy and writes heads and chunk frames. Header names and values come
from the parser, which refuses CR, LF and NUL in them, so nothing here can split a head.
"""

from __future__ import annotations

import enum
from http import HTTPStatus

Headers = list[tuple[bytes, bytes]]

# Per connection, never forwarded (RFC 9110 7.6.1); `host` is kept as the client sent it.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization",
    b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
# Who the client is and how it came: said by the router alone, never taken from the client
# (an app trusting its proxy would believe a forged address). The client's `Forwarded`
# and `X-Real-IP` are dropped too: the router does not send them, so no app reads a forged one.
FORWARDED = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
                       b"forwarded", b"x-real-ip"})
# Answered by the router itself (it sends `100 Continue` once the request is routed).
ROUTER_ONLY = frozenset({b"expect"})
NOT_TO_APP = HOP_BY_HOP | FORWARDED | ROUTER_ONLY  # one set: one lookup a header
# Never dropped for being named in `Connection`: the app must see the Host it was routed by.
KEPT_END_TO_END = frozenset({b"host"})
CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"


class Framing(enum.Enum):
    """How a message's body is delimited on one connection."""

    NONE = "none"        # no body (HEAD, 204, 304, a request without a body)
    LENGTH = "length"    # Content-Length, passed through as it is
    CHUNKED = "chunked"  # Transfer-Encoding: chunked, framed anew by the router
    CLOSE = "close"      # until the connection closes (HTTP/1.0 style)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def connection_tokens(headers: Headers) -> set[bytes]:
    """Header names listed in `Connection`: hop-by-hop for this message too."""
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named |= {v.strip().lower() for v in value.split(b",")}
    return named


def end_to_end(headers: Headers, drop: frozenset[bytes] = HOP_BY_HOP) -> Headers:
    """`headers` without those in `drop` (hop-by-hop ones at least) and those `Connection`
    names, names as sent."""
    named = connection_tokens(headers) - KEPT_END_TO_END
    return [(n, v) for n, v in headers if (low := n.lower()) not in drop and low not in named]


def request_framing(name: bytes, value: bytes, framing: Framing) -> Framing:
    """`framing` updated by one request header (lower-cased name), read as it arrives."""
    if name == b"transfer-encoding":
        return Framing.CHUNKED
    if name == b"content-length" and framing is Framing.NONE and value.strip() != b"0":
        return Framing.LENGTH
    return framing


def upstream_request_head(method: bytes, target: bytes, headers: Headers, framing: Framing,
                          forwarded: bytes, host: bytes, upgrade: bytes | None) -> bytes:
    """The head sent to the app: end-to-end headers plus the router's X-Forwarded-*.

    `forwarded` is the connection's `x-forwarded-for` and `-proto` lines (`forwarded_lines`);
    X-Forwarded-Host is the Host the router routed by. An upgrade (WebSocket) keeps
    `Connection: upgrade` and `Upgrade`, so the app can accept it; any other request's
    body is framed as the client framed it.
    """
    lines = [b"%b %b HTTP/1.1" % (method, target)]
    lines += [b"%b: %b" % pair for pair in end_to_end(headers, NOT_TO_APP)]
    if framing is Framing.CHUNKED:
        lines.append(b"transfer-encoding: chunked")
    if upgrade is not None:
        lines += [b"connection: upgrade", b"upgrade: " + upgrade]
    lines += [forwarded, b"x-forwarded-host: " + host]
    return CRLF.join(lines) + CRLF + CRLF


def forwarded_lines(client_ip: str, scheme: str) -> bytes:
    """A connection's `X-Forwarded-For` (its peer's address alone: what the client says
    of earlier hops is not evidence) and `X-Forwarded-Proto` (the scheme it came in by)."""
    return b"x-forwarded-for: %b\r\nx-forwarded-proto: %b" % (client_ip.encode(),
                                                              scheme.encode())


def response_framing(status: int, headers: Headers, head_request: bool,
                     client_http11: bool) -> tuple[Framing, Framing]:
    """(how the app delimits the body, how the router delimits it to the client)."""
    if head_request or status in (204, 304) or status < 200:
        return Framing.NONE, Framing.NONE
    upstream = Framing.CLOSE
    for name, _ in headers:
        low = name.lower()
        if low == b"transfer-encoding":
            upstream = Framing.CHUNKED
            break
        if low == b"content-length":
            upstream = Framing.LENGTH
    if upstream is Framing.LENGTH:
        return upstream, Framing.LENGTH
    # Re-framed as chunks, so the client's connection can stay open; an HTTP/1.0
    # client knows no chunks and reads to the close.
    return upstream, Framing.CHUNKED if client_http11 else Framing.CLOSE


def response_head(status: int, reason: bytes, headers: Headers, framing: Framing,
                  keep_alive: bool, client_http11: bool) -> bytes:
    lines = [b"HTTP/1.1 %d %b" % (status, reason or _reason(status))]
    lines += [b"%b: %b" % pair for pair in end_to_end(headers)]
    if framing is Framing.CHUNKED:
        lines.append(b"transfer-encoding: chunked")
    if not keep_alive:
        lines.append(b"connection: close")
    elif not client_http11:
        lines.append(b"connection: keep-alive")
    return CRLF.join(lines) + CRLF + CRLF


def raw_head(status: int, reason: bytes, headers: Headers) -> bytes:
    """A head forwarded as the app sent it (a `101 Switching Protocols`)."""
    lines = [b"HTTP/1.1 %d %b" % (status, reason or _reason(status))]
    lines += [b"%b: %b" % pair for pair in headers]
    return CRLF.join(lines) + CRLF + CRLF


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"

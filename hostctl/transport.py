"""How `HostdClient` sends a one-shot request: the standard library, or httpx.

Importing httpx and httpcore costs ~45 ms (httpx's auth module alone pulls in
urllib.request and email), a third of a `hostctl projects list`. hostd listens on plain
loopback HTTP, where one request and one JSON answer need nothing http.client lacks, so
`PlainHttp` serves those. Everything else keeps httpx, exactly as before: https URLs
(certifi, SSL_CERT_FILE), proxies from the environment, credentials in the URL, test
transports, and the streams (logs -f, top), which `HostdClient` always sends through httpx.

Both raise the same `DaemonUnreachable` / `RequestTimeout` for transport failures.
"""

from __future__ import annotations

import json
import select
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit

from hostctl.errors import DaemonUnreachable, RequestTimeout

if TYPE_CHECKING:
    import ssl

    import httpx


@dataclass(frozen=True)
class Reply:
    """A whole response: what the client needs to return JSON or raise an ApiError."""

    status: int
    reason: str
    retry_after: str | None
    body: bytes


class Transport(Protocol):
    def request(
        self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
    ) -> Reply: ...

    def close(self) -> None: ...


def encode_json(payload: Any) -> bytes:
    # httpx's encoding, so both transports send the same bytes.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def plain_http_applies(api_url: str, environ: Mapping[str, str]) -> bool:
    """True when httpx would send the request straight over plain HTTP, with no extras.

    httpx honours http_proxy / all_proxy (any case) for http:// URLs, and turns
    user:password in the URL into Basic auth; either sends the request through httpx.
    """
    parts = urlsplit(api_url)
    if parts.scheme != "http" or not parts.hostname or "@" in parts.netloc:
        return False
    proxy_vars = ("http_proxy", "all_proxy")
    return not any(value for name, value in environ.items() if name.lower() in proxy_vars)


class PlainHttp:
    """One kept-alive http.client connection to hostd, reopened when needed."""

    def __init__(self, api_url: str, headers: Mapping[str, str], timeout: float) -> None:
        parts = urlsplit(api_url)
        self._prefix = parts.path.rstrip("/")
        self._headers = dict(headers)
        # The port always given: http.client would read "::1" as host "::" and port 1.
        self._connection = HTTPConnection(
            parts.hostname or "", parts.port or 80, timeout=timeout
        )
        self._api_url = api_url

    def request(
        self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
    ) -> Reply:
        target = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        headers = dict(self._headers)
        body = None
        if json_body is not None:
            body = encode_json(json_body)
            headers["Content-Type"] = "application/json"
        self._connect()
        try:
            self._connection.request(method, target, body=body, headers=headers)
            response = self._connection.getresponse()
            data = response.read()
        except TimeoutError as exc:
            self.close()
            raise RequestTimeout(self._api_url) from exc
        except (OSError, HTTPException) as exc:
            # Reset, refused or dropped mid-answer: hostd is not there for us.
            self.close()
            raise DaemonUnreachable(self._api_url) from exc
        return Reply(response.status, response.reason, response.getheader("retry-after"), data)

    def _connect(self) -> None:
        """Connect now, so a connect timeout reads as "not running" like httpx's does.

        A kept-alive socket that has become readable between two requests was closed by
        hostd (idle timeout): it is dropped rather than failing the next request.
        """
        sock = self._connection.sock
        if sock is not None and select.select([sock], [], [], 0)[0]:
            self.close()
        if self._connection.sock is not None:
            return
        try:
            self._connection.connect()
        except OSError as exc:  # refused, unknown host, or a connect timeout
            self.close()
            raise DaemonUnreachable(self._api_url) from exc

    def close(self) -> None:
        self._connection.close()


class HttpxTransport:
    """httpx for what `PlainHttp` does not cover; `HostdClient` streams through `client`."""

    def __init__(
        self, api_url: str, headers: Mapping[str, str], timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self.api_url = api_url
        self.client = httpx.Client(
            base_url=api_url, headers=dict(headers), timeout=timeout, transport=transport,
            verify=_tls_verification(api_url),
        )

    def request(
        self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
    ) -> Reply:
        with self.errors():
            response = self.client.request(method, path, params=params, json=json_body)
        return reply_of(response)

    @contextmanager
    def errors(self) -> Iterator[None]:
        import httpx

        try:
            yield
        except httpx.TimeoutException as exc:
            # A connect timeout means nothing answered at all: same advice as refused.
            if isinstance(exc, httpx.ConnectTimeout):
                raise DaemonUnreachable(self.api_url) from exc
            raise RequestTimeout(self.api_url) from exc
        except httpx.TransportError as exc:
            # Refused, reset or dropped mid-stream: either way hostd is not there for us.
            raise DaemonUnreachable(self.api_url) from exc

    def close(self) -> None:
        self.client.close()


def reply_of(response: httpx.Response) -> Reply:
    """A read httpx response as a Reply."""
    return Reply(response.status_code, response.reason_phrase,
                 response.headers.get("retry-after"), response.content)


def _tls_verification(api_url: str) -> ssl.SSLContext | bool:
    """Full verification for https; for plain http, a context that is never used.

    httpx builds its default context (loading the CA bundle, ~55 ms) even for http://
    URLs, which reach httpx when a proxy is configured. The bare context verifies
    hostnames and certificates but trusts no CA: should it ever be used it fails closed.
    """
    if api_url.startswith("https://"):
        return True
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

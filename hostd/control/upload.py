"""An uploaded source archive (`hostctl up`): checked whole before anything is unpacked,
then unpacked into a fresh directory with the standard library's `data` filter.

The archive is the uploader's and hostd runs as root, so every member is refused unless
it is a regular file, a directory or a symbolic link whose target stays in the tree
(resolved through the archive's other links, in any order: a link unpacked later can't
redirect one unpacked earlier); no `..`, no absolute names, no hard links or devices, no
member reached through a link. The caps are HOSTD_MAX_SOURCE_FILES and
HOSTD_MAX_SOURCE_MB, counted on the members' declared sizes before extraction. The
`data` filter checks again while it writes (defence in depth).
"""

from __future__ import annotations

import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from hostd.store.projects import UPLOAD_PREFIX

ARCHIVE_NAME = "source.tar.gz"
LINK_DEPTH_MAX = 40  # as the kernel's MAXSYMLINKS


class UnsafeArchive(Exception):
    """The archive can't be unpacked; the message names the member and why."""


class ArchiveTooLarge(UnsafeArchive):
    """More members or bytes than the caps; the message names the setting."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int
    max_bytes: int


@dataclass
class ArchiveSummary:
    files: int = 0
    bytes: int = 0
    links: dict[str, str] = field(default_factory=dict)  # name -> target
    dirs: set[str] = field(default_factory=set)


def sources_dir(data_dir: Path, project_id: str) -> Path:
    """Where a project's last uploaded archive is kept (removed with the project)."""
    return data_dir / "sources" / project_id


def archive_path(data_dir: Path, project_id: str) -> Path:
    return sources_dir(data_dir, project_id) / ARCHIVE_NAME


def is_upload(github_url: str) -> bool:
    return github_url.startswith(UPLOAD_PREFIX)


def upload_digest(github_url: str) -> str | None:
    """The sha256 of the project's current upload; None before the first one."""
    digest = github_url.removeprefix(UPLOAD_PREFIX) if is_upload(github_url) else ""
    return digest or None


def check_archive(path: Path, limits: ArchiveLimits) -> ArchiveSummary:
    """Read every member header (nothing is written); UnsafeArchive naming the first bad
    member, ArchiveTooLarge past a cap."""
    summary = ArchiveSummary()
    try:
        with tarfile.open(path, mode="r|gz") as tar:  # a stream: one pass, flat memory
            for member in tar:
                _check_member(member, summary, limits)
                _forget_headers(tar)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UnsafeArchive(f"the body is not a gzip'd tar archive ({exc})") from None
    for name, target in summary.links.items():
        if _escapes(name, target, summary.links):
            raise UnsafeArchive(f"member {name!r}: its link target {target!r} leads out "
                                "of the tree")
    return summary


def _forget_headers(tar: tarfile.TarFile) -> None:
    """A stream still keeps every header it read (`members`, untyped): 50,000 of them
    would be tens of MB for nothing."""
    vars(tar)["members"].clear()


def _check_member(member: tarfile.TarInfo, summary: ArchiveSummary,
                  limits: ArchiveLimits) -> None:
    name = _member_name(member)
    if member.islnk():
        raise UnsafeArchive(f"member {name!r} is a hard link: not allowed")
    if not (member.isreg() or member.isdir() or member.issym()):
        raise UnsafeArchive(f"member {name!r} is a device, FIFO or other special file: "
                            "not allowed")
    for parent in _parents(name):
        if parent in summary.links:
            raise UnsafeArchive(f"member {name!r} is reached through the symbolic link "
                                f"{parent!r}: not allowed")
    summary.files += 1
    summary.bytes += member.size if member.isreg() else 0
    if summary.files > limits.max_files:
        raise ArchiveTooLarge(f"the archive has more than {limits.max_files} members "
                              "(HOSTD_MAX_SOURCE_FILES)")
    if summary.bytes > limits.max_bytes:
        raise ArchiveTooLarge(f"the archive unpacks to more than "
                              f"{limits.max_bytes // 2**20} MB (HOSTD_MAX_SOURCE_MB)")
    if member.issym():
        if member.linkname.startswith("/") or not member.linkname:
            raise UnsafeArchive(f"member {name!r} is a link to the absolute path "
                                f"{member.linkname!r}: not allowed")
        if name in summary.dirs:
            raise UnsafeArchive(f"member {name!r} is both a directory and a link")
        summary.links[name] = member.linkname
    elif member.isdir():
        summary.dirs.add(name)


def _member_name(member: tarfile.TarInfo) -> str:
    raw = member.name
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if raw.startswith("/"):
        raise UnsafeArchive(f"member {raw!r} has an absolute path: not allowed")
    if ".." in parts:
        raise UnsafeArchive(f"member {raw!r} has '..' in its path: not allowed")
    if not parts or "\x00" in raw:
        raise UnsafeArchive(f"member {raw!r} has no usable name")
    return "/".join(parts)


def _parents(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _escapes(name: str, target: str, links: dict[str, str]) -> bool:
    """Resolve `target` (relative to the link's directory) through the archive's links
    as the kernel would; True when it climbs above the root or loops."""
    todo = target.split("/")
    here = name.split("/")[:-1]
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not here:
                return True
            here.pop()
            continue
        candidate = "/".join([*here, part])
        if candidate in links:
            hops += 1
            linked = links[candidate]
            if hops > LINK_DEPTH_MAX or linked.startswith("/"):
                return True
            todo = linked.split("/") + todo  # resolved from the link's own directory
            continue
        here.append(part)
    return False


def unpack(path: Path, dest: Path, limits: ArchiveLimits) -> ArchiveSummary:
    """Check the archive, then unpack it into `dest`, which must not exist yet."""
    summary = check_archive(path, limits)
    dest.mkdir(mode=0o700)
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            for member in tar:
                # The `data` filter refuses what the checks did, again, as it writes.
                tar.extract(member, dest, set_attrs=True, filter="data")
                _forget_headers(tar)
    except (tarfile.TarError, OSError, zlib.error) as exc:
        raise UnsafeArchive(f"the archive could not be unpacked: {exc}") from None
    return summary

"""The build context, made by hostd: a tar of a hostile tree that never follows a link.

The docker SDK would read ``.dockerignore`` through a link (shipping a host file into the
image) and tar what a link points at. Instead hostd walks the checkout with ``lstat``,
stores a link as a link (the engine resolves it inside the context, never on the host),
reads each regular file through an ``O_NOFOLLOW`` descriptor, applies ``.dockerignore``
with the SDK's own matcher on names only, and adds what it generates (the Dockerfile, the
CA bundle) as in-memory members that win over any file of the same name.

The repository's ``.dockerignore`` is replaced by one listing only hostd's generated
Dockerfile and itself, which the engine reads and then removes from the context: the
exclusions have already been applied here.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from docker.utils.build import PatternMatcher

from hostd.source.checkout import Checkout, UnsafeCheckout

DOCKERFILE_MEMBER = ".hostd.Dockerfile"
IGNORE_FILE = ".dockerignore"
IGNORE_CAP_BYTES = 256 * 1024
_MODE_BITS = 0o777  # no setuid/setgid/sticky bits from a repository


class SourceTooLarge(Exception):
    """The tree passes a size or file-count cap; the message says which and the setting."""


@dataclass(frozen=True)
class SourceLimits:
    max_bytes: int
    max_files: int


@dataclass(frozen=True)
class ContextSummary:
    files: int
    bytes: int


def ignore_patterns(checkout: Checkout) -> list[str]:
    """The `.dockerignore` lines, read as a regular file (a link is refused)."""
    text = checkout.read_text(IGNORE_FILE, IGNORE_CAP_BYTES)
    if text is None:
        return []
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def write_context(checkout: Checkout, out: BinaryIO, dockerfile: str,
                  extra: dict[str, bytes], limits: SourceLimits) -> ContextSummary:
    """Write the context tar of `checkout` to `out`: the tree minus `.dockerignore`'s
    exclusions, plus `dockerfile` (as DOCKERFILE_MEMBER) and the `extra` files."""
    generated = {DOCKERFILE_MEMBER: dockerfile.encode(),
                 IGNORE_FILE: f"{IGNORE_FILE}\n{DOCKERFILE_MEMBER}\n".encode(), **extra}
    matcher = PatternMatcher(ignore_patterns(checkout))
    files = size = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, info in _walk(checkout, matcher):
            if rel in generated:
                continue
            files += 1
            size += info.st_size if stat.S_ISREG(info.st_mode) else 0
            _check_limits(files, size, limits)
            _add_entry(tar, checkout, rel, info)
        for name, data in generated.items():
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o644
            tar.addfile(member, io.BytesIO(data))
    return ContextSummary(files=files, bytes=size)


def _check_limits(files: int, size: int, limits: SourceLimits) -> None:
    if files > limits.max_files:
        raise SourceTooLarge(f"the source has more than {limits.max_files} files "
                             "(HOSTD_MAX_SOURCE_FILES)")
    if size > limits.max_bytes:
        raise SourceTooLarge(f"the source is larger than {limits.max_bytes // 2**20} MB "
                             "(HOSTD_MAX_SOURCE_MB)")


def _walk(checkout: Checkout, matcher: PatternMatcher | None,
          rel_dir: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """(relative name, lstat) of every entry kept, parents before children. A directory
    is descended only when it is a real one; an excluded one only when a `!pattern` may
    bring something inside it back (the rule the docker CLI and the SDK apply)."""
    with os.scandir(checkout.root / rel_dir if rel_dir else checkout.root) as entries:
        listing = sorted(entries, key=lambda entry: entry.name)
    for entry in listing:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        info = entry.stat(follow_symlinks=False)
        excluded = matcher is not None and matcher.matches(rel)
        if not excluded:
            yield rel, info
        if stat.S_ISDIR(info.st_mode) and (not excluded or _may_reinclude(matcher, rel)):
            yield from _walk(checkout, matcher, rel)


def _may_reinclude(matcher: PatternMatcher | None, rel: str) -> bool:
    return matcher is not None and any(
        pattern.exclusion and pattern.cleaned_pattern.startswith(rel)
        for pattern in matcher.patterns
    )


def _add_entry(tar: tarfile.TarFile, checkout: Checkout, rel: str,
               info: os.stat_result) -> None:
    member = tarfile.TarInfo(rel)
    member.mode = info.st_mode & _MODE_BITS
    member.mtime = int(info.st_mtime)
    if stat.S_ISDIR(info.st_mode):
        member.type = tarfile.DIRTYPE
        tar.addfile(member)
    elif stat.S_ISLNK(info.st_mode):
        member.type, member.linkname = tarfile.SYMTYPE, os.readlink(checkout.root / rel)
        tar.addfile(member)
    elif stat.S_ISREG(info.st_mode):
        _add_file(tar, checkout, rel, member, info)
    # FIFOs, sockets and devices are left out: nothing a build could want.


def _add_file(tar: tarfile.TarFile, checkout: Checkout, rel: str, member: tarfile.TarInfo,
              info: os.stat_result) -> None:
    fd = os.open(checkout.root / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                 | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if (opened.st_ino, opened.st_dev) != (info.st_ino, info.st_dev):
            raise UnsafeCheckout(f"{rel} in the repository changed while it was read")
        member.size = opened.st_size
        tar.addfile(member, handle)

"""An uploaded source archive (`hostctl up`): checked whole before anything is unpacked,
then unpacked into a fresh directory with the standard library's `data` filter.

The archive is the uploader's and hostd runs as root, so every member is refused unless
it is a regular file, a directory or a symbolic link whose target stays in the tree
(resolved through the archive's other links, in any order: a link unpacked later can't
redirect one unpacked earlier); no `..`, no absolute names, no hard links, devices or
sparse files, no member reached through a link. Names and link targets are at most 3072
bytes, 128 components of 255 bytes (hostd.control.archive_tree, linear in the name). The
caps are HOSTD_MAX_SOURCE_FILES and HOSTD_MAX_SOURCE_MB, counted on declared sizes
(files and extension headers alike) before anything of them is read
(hostd.control.archive_stream); the check reads under a deadline, HOSTD_UPLOAD_TIMEOUT,
the unpack (which writes) under the build's, HOSTD_BUILD_TIMEOUT.
The `data` filter checks again while it writes (defence in depth).
"""

from __future__ import annotations

import tarfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hostd.control.archive_stream import (
    EXTENSIONS_MAX,
    BoundedSource,
    Checked,
    OverCap,
    Refused,
    TooSlow,
)
from hostd.control.archive_tree import TooManyPaths, Tree, components

ARCHIVE_NAME = "source.tar.gz"


class UnsafeArchive(Exception):
    """The archive can't be unpacked; the message names the member and why."""


class ArchiveTooLarge(UnsafeArchive):
    """More members or bytes than the caps; the message names the setting."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int
    max_bytes: int
    timeout_s: float = 30.0  # the check (HOSTD_UPLOAD_TIMEOUT)
    unpack_timeout_s: float = 600.0  # the unpack, which writes (HOSTD_BUILD_TIMEOUT)


@dataclass
class ArchiveSummary:
    files: int = 0
    bytes: int = 0


def sources_dir(data_dir: Path, project_id: str) -> Path:
    """Where a project's last uploaded archive is kept (removed with the project)."""
    return data_dir / "sources" / project_id


def archive_path(data_dir: Path, project_id: str) -> Path:
    return sources_dir(data_dir, project_id) / ARCHIVE_NAME


def check_archive(path: Path, limits: ArchiveLimits) -> ArchiveSummary:
    """Read every member header (nothing is written); UnsafeArchive naming the first bad
    member, ArchiveTooLarge past a cap, UnsafeArchive at the deadline."""
    summary, tree = ArchiveSummary(), Tree(2 * limits.max_files)
    with _reading(path, limits, "the body is not a gzip'd tar archive", limits.timeout_s,
                  "HOSTD_UPLOAD_TIMEOUT") as (tar, source):
        for member in tar:
            _check_member(member, summary, tree, source, limits)
            _forget_headers(tar)
        escaping = tree.escaping_link()
    if escaping is not None:
        raise UnsafeArchive(f"member {escaping.name!r}: its link target "
                            f"{escaping.target!r} leads out of the tree")
    return summary


@contextmanager
def _reading(path: Path, limits: ArchiveLimits, failed: str, timeout_s: float,
             setting: str) -> Iterator[tuple[tarfile.TarFile, BoundedSource]]:
    """The archive at `path` opened through hostd's bounds (hostd.control.archive_stream),
    read for at most `timeout_s` (`setting`); their refusals become UnsafeArchive or
    ArchiveTooLarge, a broken archive an UnsafeArchive that starts with `failed`."""
    deadline = time.monotonic() + timeout_s
    # Headers and padding, at most EXTENSIONS_MAX + 1 headers per member, beyond what
    # the members and extension headers declare: the decompressed stream's own cap.
    overhead = (limits.max_files + 1) * (EXTENSIONS_MAX + 1) * 2 * tarfile.BLOCKSIZE
    source = BoundedSource(path, limits.max_bytes, limits.max_bytes + overhead, deadline)
    try:
        with tarfile.open(fileobj=source, mode="r:", tarinfo=Checked) as tar:  # type: ignore[call-overload]
            yield tar, source
    except OverCap as exc:
        raise ArchiveTooLarge(str(exc)) from None
    except TooSlow:
        raise UnsafeArchive(f"the archive took longer than {timeout_s:g} s to read "
                            f"({setting})") from None
    except Refused as exc:
        raise UnsafeArchive(str(exc)) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error, ValueError,
            RecursionError) as exc:
        raise UnsafeArchive(f"{failed} ({str(exc)[:300]})") from None
    finally:
        source.close()


def _forget_headers(tar: tarfile.TarFile) -> None:
    """tarfile keeps every header it read (`members`, untyped): 50,000 of them would be
    tens of MB for nothing."""
    vars(tar)["members"].clear()


def _check_member(member: tarfile.TarInfo, summary: ArchiveSummary, tree: Tree,
                  source: BoundedSource, limits: ArchiveLimits) -> None:
    name, parts = _member_name(member)
    if member.islnk():
        raise UnsafeArchive(f"member {name!r} is a hard link: not allowed")
    if not (member.isreg() or member.isdir() or member.issym()):
        raise UnsafeArchive(f"member {name!r} is a device, FIFO or other special file: "
                            "not allowed")
    summary.files += 1
    if summary.files > limits.max_files:
        raise ArchiveTooLarge(f"the archive has more than {limits.max_files} members "
                              "(HOSTD_MAX_SOURCE_FILES)")
    if member.size < 0:
        raise UnsafeArchive(f"member {name!r} declares a negative size")
    if member.isreg():
        summary.bytes += member.size
        source.count(member.size, f"member {name!r}")
    try:
        if member.issym():
            target = member.linkname
            if target.startswith("/") or not target:
                raise UnsafeArchive(f"member {name!r} is a link to the absolute path "
                                    f"{target!r}: not allowed")
            components(target, f"the link target of member {name!r}")
            tree.add(name, parts, "sym", target)
        else:
            tree.add(name, parts, "dir" if member.isdir() else "file")
    except TooManyPaths as exc:
        raise ArchiveTooLarge(f"{exc} (HOSTD_MAX_SOURCE_FILES)") from None


def _member_name(member: tarfile.TarInfo) -> tuple[str, list[str]]:
    raw = member.name
    if raw.startswith("/"):
        raise UnsafeArchive(f"member {raw[:200]!r} has an absolute path: not allowed")
    parts = components(raw, f"the name of member {raw[:200]!r}")
    if ".." in parts:
        raise UnsafeArchive(f"member {raw!r} has '..' in its path: not allowed")
    if not parts or "\x00" in raw:
        raise UnsafeArchive(f"member {raw!r} has no usable name")
    return "/".join(parts), parts


def unpack(path: Path, dest: Path, limits: ArchiveLimits) -> ArchiveSummary:
    """Check the archive, then unpack it into `dest`, which must not exist yet; each
    pass under a deadline of its own."""
    summary = check_archive(path, limits)
    dest.mkdir(mode=0o700)
    with _reading(path, limits, "the archive could not be unpacked",
                  limits.unpack_timeout_s, "HOSTD_BUILD_TIMEOUT") as (tar, _):
        for member in tar:
            # The `data` filter refuses what the checks did, again, as it writes.
            tar.extract(member, dest, set_attrs=True, filter="data")
            _forget_headers(tar)
    return summary

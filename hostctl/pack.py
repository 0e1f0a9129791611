"""Packing a directory for `hostctl up`: the working tree as it is, as a deterministic
gzip'd tar (the same tree always gives the same bytes, so the same sha256).

What goes in: in a git repository, what `git ls-files --cached --others
--exclude-standard` names (uncommitted changes included, `.gitignore`d files not);
elsewhere, every file under the directory but what its top-level `.gitignore` excludes.
Then minus what a `.hostdignore` excludes
(gitignore syntax), and never `.git`, `node_modules`, `__pycache__` or `.venv`.
Symbolic links go in as links, never followed. Members are sorted, with mtime 0,
owner 0:0 and modes 0644/0755 (0755 when any execute bit is set).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pathspec

IGNORE_FILE = ".hostdignore"
NEVER = frozenset({".git", "node_modules", "__pycache__", ".venv"})
GIT_TIMEOUT_S = 60


class PackError(Exception):
    """The directory can't be packed; the message says why."""


@dataclass(frozen=True)
class Packed:
    path: Path
    sha256: str
    size: int  # bytes of the archive
    files: int
    unpacked: int  # bytes of the files in it


def source_names(root: Path) -> list[str]:
    """The relative POSIX names to pack, sorted: files and links, no directories."""
    listed = _git_names(root)
    names = listed if listed is not None else list(_walk(root))
    # Outside git, a top-level .gitignore still says what is not source.
    spec = _ignore_spec(root, (IGNORE_FILE,) if listed is not None
                        else (".gitignore", IGNORE_FILE))
    kept = [name for name in names
            if not NEVER.intersection(name.split("/")) and not spec.match_file(name)]
    return sorted(set(kept))


def _git_names(root: Path) -> list[str] | None:
    """What git would commit from `root` now; None when `root` is not in a repository."""
    try:
        inside = subprocess.run(["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
                                capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                                check=False)
    except FileNotFoundError:
        return None  # no git: a plain directory to us
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return None
    listing = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard",
         "-z"], capture_output=True, timeout=GIT_TIMEOUT_S, check=False)
    if listing.returncode != 0:
        raise PackError(f"git ls-files failed in {root}: "
                        f"{listing.stderr.decode(errors='replace').strip()}")
    names = [raw.decode("utf-8", errors="surrogateescape")
             for raw in listing.stdout.split(b"\0") if raw]
    # --cached names files deleted since the last commit, and a submodule as a directory.
    return [name for name in names if _packable(root / name)]


def _packable(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def _walk(root: Path) -> Iterator[str]:
    for current, dirs, files in os.walk(root):  # never descends a link (followlinks=False)
        rel_dir = Path(current).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else f"{rel_dir}/"
        dirs[:] = [d for d in dirs if d not in NEVER]
        for name in [*files, *dirs]:
            if _packable(Path(current) / name):  # a link to a directory is in `dirs`
                yield prefix + name


def _ignore_spec(root: Path, files: tuple[str, ...]) -> pathspec.PathSpec:
    lines: list[str] = []
    for name in files:
        path = root / name
        if path.is_file() and not path.is_symlink():
            lines += path.read_text(errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def pack(root: Path, out: Path) -> Packed:
    """Write the archive of `root` to `out` and return its digest and counts."""
    names = source_names(root)
    if not names:
        raise PackError(f"nothing to deploy in {root}: every file is ignored")
    unpacked = 0
    with out.open("wb") as raw:
        unpacked = _write(root, names, raw)
    digest = hashlib.sha256()
    with out.open("rb") as handle:
        while piece := handle.read(1024 * 1024):
            digest.update(piece)
    return Packed(out, digest.hexdigest(), out.stat().st_size, len(names), unpacked)


def _write(root: Path, names: list[str], raw: BinaryIO) -> int:
    unpacked = 0
    # mtime 0 and no file name in the gzip header: the bytes depend on the tree only.
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            path = root / name
            info = path.lstat()
            member = tarfile.TarInfo(name)
            member.mtime, member.uid, member.gid, member.uname, member.gname = 0, 0, 0, "", ""
            if stat.S_ISLNK(info.st_mode):
                member.type, member.mode = tarfile.SYMTYPE, 0o777
                member.linkname = os.readlink(path)
                tar.addfile(member)
                continue
            member.mode = 0o755 if info.st_mode & 0o111 else 0o644
            with path.open("rb") as handle:
                member.size = os.fstat(handle.fileno()).st_size
                tar.addfile(member, handle)
            unpacked += member.size
    return unpacked

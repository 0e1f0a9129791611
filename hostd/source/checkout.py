"""Reading a hostile directory tree (a clone, an upload) without ever following a link.

hostd runs as root and the tree is written by whoever owns the repository: a name in it
may be a symbolic link to `/etc/shadow`, the data directory's `jwt_secret` or
`/dev/zero`, or a FIFO. Every look hostd takes inside goes through :class:`Checkout`:
each path component is opened relative to its parent with ``O_NOFOLLOW``, a file is read
only when it is regular, and only up to a size cap. Nothing here writes into the tree.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

READ_CAP_BYTES = 1024 * 1024  # the files hostd reads itself (Dockerfile, package.json…)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeCheckout(Exception):
    """A file hostd must read is a link, not a regular file, or too big; the message is
    the deploy's reason."""


class Checkout:
    """A directory tree whose contents are not trusted; `rel` names are POSIX paths."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def kind(self, rel: str) -> str | None:
        """'file', 'dir', 'link' or 'other' for `rel` itself (never followed); None when
        it, or a directory on the way to it, is missing or is not a real directory."""
        try:
            mode = self._lstat(rel).st_mode
        except (FileNotFoundError, NotADirectoryError, UnsafeCheckout):
            return None
        if stat.S_ISLNK(mode):
            return "link"
        if stat.S_ISREG(mode):
            return "file"
        return "dir" if stat.S_ISDIR(mode) else "other"

    def is_file(self, rel: str) -> bool:
        return self.kind(rel) == "file"

    def is_dir(self, rel: str) -> bool:
        return self.kind(rel) == "dir"

    def exists(self, rel: str) -> bool:
        return self.kind(rel) is not None

    def read_bytes(self, rel: str, max_bytes: int = READ_CAP_BYTES) -> bytes | None:
        """The file's bytes, or None when there is no such name. Raises UnsafeCheckout for
        a link, a non-regular file or one larger than `max_bytes`."""
        parts = _parts(rel)
        try:
            dir_fd = self._open_parent(parts)
        except FileNotFoundError:
            return None
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _refusal(rel, exc) from None
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeCheckout(f"{rel} in the repository is not a regular file")
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise UnsafeCheckout(f"{rel} in the repository is larger than "
                                 f"{max_bytes // 1024} KiB")
        return data

    def read_text(self, rel: str, max_bytes: int = READ_CAP_BYTES) -> str | None:
        data = self.read_bytes(rel, max_bytes)
        return None if data is None else data.decode("utf-8", errors="replace")

    def _lstat(self, rel: str) -> os.stat_result:
        parts = _parts(rel)
        dir_fd = self._open_parent(parts)
        try:
            return os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
        finally:
            os.close(dir_fd)

    def _open_parent(self, parts: list[str]) -> int:
        """An fd of the directory holding the last part, every step taken without
        following a link; FileNotFoundError when one is missing."""
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in parts[:-1]:
                try:
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ENOENT:
                        raise FileNotFoundError(part) from None
                    raise _refusal("/".join(parts), exc) from None
                os.close(fd)
                fd = next_fd
        except BaseException:
            os.close(fd)
            raise
        return fd


def _parts(rel: str) -> list[str]:
    path = PurePosixPath(rel)
    parts = [p for p in path.parts if p not in ("", ".")]
    if path.is_absolute() or not parts or ".." in parts:
        raise ValueError(f"{rel!r} is not a relative path inside the tree")
    return parts


def _refusal(rel: str, exc: OSError) -> UnsafeCheckout:
    # ELOOP: the name is a link (O_NOFOLLOW); ENOTDIR: a directory on the way is not one.
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        return UnsafeCheckout(f"{rel} in the repository is a symbolic link: hostd reads "
                              "only regular files")
    if exc.errno == errno.ENOTDIR:
        return UnsafeCheckout(f"{rel} in the repository is under something that is not "
                              "a directory (a symbolic link?)")
    return UnsafeCheckout(f"{rel} in the repository can't be read: {exc.strerror}")

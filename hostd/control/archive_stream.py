"""Reading an uploaded archive with bounds the standard library's tarfile does not keep.

tarfile reads an extension header's whole declared size before it returns the member
it belongs to: a GNU long name ('L') or long link ('K') and a pax header ('x', 'g') may
declare 512 MiB in a 0.5 MB gzip body. Python 3.11's pax parser is also quadratic in
some malformed records (runs of digits, records without their '='). So `Checked`, the
TarInfo class hostd reads with, refuses an extension header by its declared size before
tarfile reads it (global pax headers, which tarfile keeps to the end, in all too),
validates a pax header's records in one linear pass before tarfile parses them, refuses
sparse members and chains of extension headers. `BoundedSource`
is the file tarfile reads: it decompresses the gzip stream, refuses more than a cap of
decompressed bytes (a gzip bomb) and anything after a deadline, and lets `Checked` look
at a pax header before tarfile reads it again.
"""

from __future__ import annotations

import gzip
import re
import tarfile
import time
from pathlib import Path

# A name or link target, in UTF-8: the kernel's PATH_MAX (4096) less room for the
# directory hostd unpacks into.
NAME_MAX_BYTES = 3072
LONG_NAME_MAX_BYTES = NAME_MAX_BYTES + 1  # a GNU long name and its NUL
PAX_MAX_BYTES = 16 * 1024  # a path and a link target of NAME_MAX_BYTES, and the rest
PAX_DIGITS_MAX = 64  # tarfile's `hdrcharset` search is quadratic in a run of digits
EXTENSIONS_MAX = 4  # extension headers before one member ('x', 'g', 'L', 'K')
SKIP_CHUNK = 1024 * 1024
_LONG = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_DIGITS = re.compile(rb"[0-9]+")
_PAX = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


class Refused(Exception):
    """The archive breaks a bound; the message says which and where."""


class OverCap(Refused):
    """More decompressed bytes than the cap allows."""


class TooSlow(Refused):
    """Still reading at the deadline."""


class BoundedSource:
    """The decompressed archive, read forward only: a cap on bytes, a deadline, and
    `peek` (read, then give back) for what tarfile must read again."""

    mode = "rb"

    def __init__(self, path: Path, cap: int, stream_cap: int, deadline: float) -> None:
        self._gz = gzip.open(path, "rb")  # noqa: SIM115 (closed by close())
        self._cap, self._deadline = stream_cap, deadline
        self._pos = 0  # what tarfile has read
        self._back = b""  # peeked bytes, given back before the stream's next ones
        self.extensions = 0  # extension headers since the last member
        self.global_bytes = 0  # global pax headers ('g'), which tarfile keeps to the end
        self.declared = 0  # the declared sizes of regular files and extension headers
        self.declared_cap = cap

    def count(self, size: int, what: str) -> None:
        """Add a declared size before anything of it is read; OverCap past the cap."""
        self.declared += size
        if self.declared > self.declared_cap:
            raise OverCap(f"{what}: the archive unpacks to more than "
                          f"{self.declared_cap // 2**20} MB (HOSTD_MAX_SOURCE_MB)")

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise Refused("the archive can't be read whole")
        self._check_time()
        head, self._back = self._back[:size], self._back[size:]
        rest = size - len(head)
        if rest and self._pos + len(head) + rest > self._cap:
            rest = max(0, self._cap + 1 - self._pos - len(head))  # one past: over the cap
        data = head + (self._gz.read(rest) if rest else b"")
        self._pos += len(data)
        if self._pos > self._cap:
            raise OverCap(f"the archive decompresses to more than {self._cap // 2**20} MB")
        return data

    def peek(self, size: int) -> bytes:
        data = self.read(size)
        self._back, self._pos = data + self._back, self._pos - len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0 or offset < self._pos:
            raise Refused("the archive can't be read backwards")
        while self._pos < offset:
            if not self.read(min(SKIP_CHUNK, offset - self._pos)):
                break
        return self._pos

    def close(self) -> None:
        self._gz.close()

    def _check_time(self) -> None:
        if time.monotonic() > self._deadline:
            raise TooSlow("the archive was still being read at the deadline")


class Checked(tarfile.TarInfo):
    """A member header read with bounds (see the module's docstring); it refuses before
    tarfile reads what it would not bound itself."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        source = archive.fileobj
        if not isinstance(source, BoundedSource):
            raise TypeError("Checked reads through a BoundedSource only")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise Refused(f"member {self.name!r} is a sparse file: not allowed")
        if self.type not in _LONG + _PAX:
            source.extensions = 0
            return super()._proc_member(archive)  # type: ignore[misc]
        where = f"the extension header at byte {self.offset}"
        source.extensions += 1
        if source.extensions > EXTENSIONS_MAX:
            raise Refused(f"{where} is one of more than {EXTENSIONS_MAX} in a row")
        cap = LONG_NAME_MAX_BYTES if self.type in _LONG else PAX_MAX_BYTES
        if not 0 <= self.size <= cap:
            kind = "a long name" if self.type in _LONG else "a pax header"
            raise Refused(f"{where} declares {kind} of {self.size} bytes, more than "
                          f"{cap}: names and link targets are at most {NAME_MAX_BYTES} bytes")
        source.count(self.size, where)
        if self.type == tarfile.XGLTYPE:  # kept for every member after it: a cap in all
            source.global_bytes += self.size
            if source.global_bytes > PAX_MAX_BYTES:
                raise Refused(f"{where}: the archive's global pax headers declare more "
                              f"than {PAX_MAX_BYTES} bytes in all")
        if self.type in _PAX:
            padded = -(-self.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            check_pax_records(source.peek(padded)[:self.size], where)
        return super()._proc_member(archive)  # type: ignore[misc]


def check_pax_records(buf: bytes, where: str) -> None:
    """Every record of a pax header well formed ("<length> <key>=<value>\\n", lengths
    that add up), in one pass: what tarfile then parses costs no more than linear."""
    pos = 0
    while pos < len(buf) and buf[pos] != 0:
        space = buf.find(b" ", pos, pos + 21)
        digits = buf[pos:space] if space > pos else b""
        end = pos + int(digits) if digits.isdigit() else pos
        if end <= space + 1 or end > len(buf) or buf[end - 1] != 0x0A \
                or b"=" not in buf[space + 1:end]:
            raise Refused(f"{where} has a malformed record at byte {pos} of its pax data")
        key = buf[space + 1:end].partition(b"=")[0]
        if key.startswith(b"GNU.sparse"):
            raise Refused(f"{where} describes a sparse file: not allowed")
        pos = end
    if buf[pos:].strip(b"\0"):
        raise Refused(f"{where} has bytes after its last pax record")
    if _longest_digit_run(buf) > PAX_DIGITS_MAX:
        raise Refused(f"{where} has a run of more than {PAX_DIGITS_MAX} digits")


def _longest_digit_run(buf: bytes) -> int:
    return max((len(run) for run in _DIGITS.findall(buf)), default=0)

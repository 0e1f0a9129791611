"""Hand-made source archives for the upload tests: good ones and every kind of hostile one."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zlib
from pathlib import Path

# (name, kind, payload): kind "file" (payload = content, text or bytes), "dir",
# "sym"/"hard" (payload = target), "chr"/"fifo" (payload ignored).
Member = tuple[str, str, str | bytes]
KINDS = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
         "hard": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}


def archive(members: list[Member]) -> bytes:
    """A gzip'd tar of `members`, in the order given."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.type = KINDS[kind]
            info.mode = 0o755 if kind == "dir" else 0o644
            data = payload if isinstance(payload, bytes) else payload.encode()
            data = data if kind == "file" else b""
            if kind in ("sym", "hard"):
                info.linkname = str(payload)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return gzip.compress(raw.getvalue(), mtime=0)


def write_archive(path: Path, members: list[Member]) -> Path:
    path.write_bytes(archive(members))
    return path


def hostile(outside: Path) -> dict[str, tuple[list[Member], str]]:
    """Each guard's archive and the member its refusal must name; `outside` is a
    directory next to the tree that must stay empty."""
    return {
        "dotdot": ([("ok.txt", "file", "x"), ("../escape", "file", "pwned")], "../escape"),
        "deep-dotdot": ([(f"a/../../{outside.name}/x", "file", "pwned")], "x"),
        "absolute": ([(str(outside / "abs"), "file", "pwned")], str(outside / "abs")),
        "device": ([("dev", "chr", "")], "dev"),
        "fifo": ([("pipe", "fifo", "")], "pipe"),
        "hardlink": ([("f", "file", "x"), ("h", "hard", "/etc/passwd")], "h"),
        "link-absolute": ([("etc", "sym", "/etc")], "etc"),
        "through-link": ([("out", "sym", "sub/.."), ("sub", "dir", ""),
                          ("out/x", "file", "pwned")], "out/x"),
        "link-then-file": ([("l", "sym", str(outside)), ("l/planted", "file", "pwned")], "l"),
        "link-escapes": ([("sub/l", "sym", f"../../{outside.name}")], "sub/l"),
        # Resolved through another link: sub/up -> .. (the root), so sub/up/.. is above it.
        "link-chain": ([("top", "sym", "sub/up/.."), ("sub/up", "sym", "..")], "top"),
    }


def extension_bomb(kind: bytes, declared: int, fill: bytes = b"\0") -> bytes:
    """A gzip'd tar whose first header is an extension header of `kind` (b"L", b"K"
    GNU long name/link; b"x", b"g" pax) declaring `declared` bytes, all of them there
    (an "x", then `fill`: 512 MiB of zeros is a 0.5 MB body), then a member and a
    `../late` one (refused by any hostd, however early).

    The filler is one MiB compressed once and its deflate blocks repeated: each piece
    ends in a full flush, so none refers back across it, and the stream is the one a
    single compressor would write, for a hundredth of the CPU."""
    header = tarfile.TarInfo("././@LongLink")
    header.type, header.size = kind, declared
    tail = io.BytesIO()
    with tarfile.open(fileobj=tail, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in ("ok.txt", "../late"):
            tar.addfile(tarfile.TarInfo(name))
    mib = fill * 2**20
    whole, part = divmod(declared - 1, len(mib))
    piece = _deflated(mib)
    body = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = [body.compress(header.tobuf(tarfile.GNU_FORMAT) + b"x"),
                body.flush(zlib.Z_FULL_FLUSH), piece * whole]
    rest = mib[:part] + bytes(-declared % tarfile.BLOCKSIZE) + tail.getvalue()
    deflated += [body.compress(rest), body.flush()]
    crc = zlib.crc32(header.tobuf(tarfile.GNU_FORMAT) + b"x")
    for _ in range(whole):
        crc = zlib.crc32(mib, crc)
    crc = zlib.crc32(rest, crc)
    size = len(header.tobuf(tarfile.GNU_FORMAT)) + 1 + whole * len(mib) + len(rest)
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, mtime 0, best
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return gzip_header + b"".join(deflated) + trailer


def _deflated(data: bytes) -> bytes:
    """`data` as raw deflate blocks that end at a full flush (a piece to repeat)."""
    piece = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return piece.compress(data) + piece.flush(zlib.Z_FULL_FLUSH)


def pathological_names() -> dict[str, tuple[list[Member], str]]:
    """Archives of about 1 KB whose names cost a quadratic check its CPU, each ending
    in a refusal any hostd makes, and what its refusal names."""
    deep = "a/" * 1900  # 3800 characters, 1900 components
    return {
        # A link target of 150,000 components that finally climbs out.
        "long-link-target": ([("l", "sym", "./" * 150_000 + "../../x")], "l"),
        # Many members, each named with 4000 characters in 2000 components.
        "deep-names": ([(f"{deep}f", "file", "")] * 100 + [("../late", "file", "")],
                       "a/a/a"),
        # Links whose targets go down 700 components and up again, the last one past
        # the root.
        "deep-link-targets": ([(f"l{i}", "sym", "a/" * 700 + "../" * 700)
                               for i in range(40)]
                              + [("out", "sym", "a/" * 700 + "../" * 701)], "l0"),
    }


def raw_archive(headers: list[tuple[str, bytes, bytes]]) -> bytes:
    """A gzip'd tar of raw headers (name, type, data), written as they are (GNU format)."""
    raw = io.BytesIO()
    for name, kind, data in headers:
        info = tarfile.TarInfo(name)
        info.type, info.size = kind, len(data)
        raw.write(info.tobuf(tarfile.GNU_FORMAT) + data + bytes(-len(data) % tarfile.BLOCKSIZE))
    raw.write(bytes(2 * tarfile.BLOCKSIZE))
    return gzip.compress(raw.getvalue(), mtime=0)


def pax_archive(records: dict[str, str]) -> bytes:
    """A gzip'd tar of one empty file after a pax header of `records`."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("f")
        info.pax_headers = records
        tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)

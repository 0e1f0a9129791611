"""Hand-made source archives for the upload tests: good ones and every kind of hostile one."""

from __future__ import annotations

import gzip
import io
import tarfile
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

"""Running `git clone` bounded: killed when the deploy is cancelled, when its deadline
passes, or when the tree it writes passes the source caps (a hostile server can send an
endless pack; the caps hold for the checkout while it is written, not only after).

Its stderr goes to a file and only the last part is read: what a server prints is not
kept in memory whole.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hostd.control.cancel import CancelScope

POLL_S = 0.25
STDERR_TAIL_BYTES = 16 * 1024


@dataclass(frozen=True)
class CloneLimits:
    timeout_s: float
    max_bytes: int
    max_files: int


@dataclass(frozen=True)
class CloneOutcome:
    returncode: int | None  # None: stopped by hostd (see `stopped`)
    stderr: str
    stopped: str | None = None  # why hostd stopped it, a sentence for the user


def run_clone(argv: list[str], env: dict[str, str], cwd: Path, dest: Path,
              limits: CloneLimits, cancel: CancelScope | None) -> CloneOutcome:
    """Run git; FileNotFoundError when git is missing."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
        unhook = cancel.on_cancel(process.kill) if cancel is not None else lambda: None
        try:
            stopped = _watch(process, dest, limits, cancel)
        finally:
            unhook()
            if process.poll() is None:
                process.kill()
            process.wait()
        return CloneOutcome(None if stopped else process.returncode, _tail(stderr), stopped)


def _watch(process: subprocess.Popen[bytes], dest: Path, limits: CloneLimits,
           cancel: CancelScope | None) -> str | None:
    deadline = time.monotonic() + limits.timeout_s
    while process.poll() is None:
        if cancel is not None and cancel.cancelled:
            return cancel.reason or "cancelled"
        if time.monotonic() > deadline:
            return f"git clone took longer than {limits.timeout_s:.0f}s"
        too_big = _over_caps(dest, limits)
        if too_big:
            return too_big
        # Not a sleep: the clone's end is seen at once, not at the next tick.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(POLL_S)
    if cancel is not None and cancel.cancelled:  # the hook killed it
        return cancel.reason or "cancelled"
    return _over_caps(dest, limits) if process.returncode == 0 else None


def _over_caps(dest: Path, limits: CloneLimits) -> str | None:
    files = size = 0
    for root, dirs, names in os.walk(dest):  # never follows links (followlinks=False)
        files += len(names) + len(dirs)
        for name in names:
            try:
                size += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # git renamed or removed it meanwhile
        if files > limits.max_files:
            return (f"the repository has more than {limits.max_files} files "
                    "(HOSTD_MAX_SOURCE_FILES)")
        if size > limits.max_bytes:
            return (f"the repository is larger than {limits.max_bytes // 2**20} MB "
                    "(HOSTD_MAX_SOURCE_MB)")
    return None


def _tail(stderr: IO[bytes]) -> str:
    end = stderr.seek(0, os.SEEK_END)
    stderr.seek(max(0, end - STDERR_TAIL_BYTES))
    return stderr.read().decode("utf-8", errors="replace")

"""The clone runner stops git at a cancel, a deadline, or when its tree passes the caps
(real processes standing in for git; the real clone is in tests/deploy)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hostd.control.cancel import CancelScope
from hostd.control.clonewatch import CloneLimits, run_clone

LIMITS = CloneLimits(timeout_s=20, max_bytes=1024 * 1024, max_files=50)


def run(tmp_path: Path, script: str, limits: CloneLimits = LIMITS,
        cancel: CancelScope | None = None) -> tuple[float, object]:
    dest = tmp_path / "dest"
    dest.mkdir()
    started = time.monotonic()
    outcome = run_clone(["sh", "-c", script], {"PATH": "/usr/bin:/bin", "DEST": str(dest)},
                        tmp_path, dest, limits, cancel)
    return time.monotonic() - started, outcome


def test_a_tree_growing_past_the_size_cap_is_stopped(tmp_path):
    elapsed, outcome = run(tmp_path, 'head -c 3000000 /dev/zero > "$DEST/pack"; sleep 30')
    assert outcome.stopped is not None and "HOSTD_MAX_SOURCE_MB" in outcome.stopped
    assert elapsed < 5


def test_too_many_files_is_stopped(tmp_path):
    elapsed, outcome = run(tmp_path, 'for i in $(seq 1 80); do : > "$DEST/f$i"; done; sleep 30')
    assert outcome.stopped is not None and "HOSTD_MAX_SOURCE_FILES" in outcome.stopped
    assert elapsed < 5


def test_a_cancel_kills_it_at_once(tmp_path):
    cancel = CancelScope()
    threading.Timer(0.5, cancel.cancel, ["the project was deleted"]).start()
    elapsed, outcome = run(tmp_path, "sleep 30", cancel=cancel)
    assert outcome.stopped == "the project was deleted"
    assert elapsed < 3


def test_the_deadline(tmp_path):
    limits = CloneLimits(timeout_s=1, max_bytes=LIMITS.max_bytes, max_files=LIMITS.max_files)
    elapsed, outcome = run(tmp_path, "sleep 30", limits)
    assert outcome.stopped is not None and "longer than 1s" in outcome.stopped
    assert elapsed < 4


def test_stderr_is_kept_to_its_tail(tmp_path):
    _, outcome = run(tmp_path, "head -c 200000 /dev/zero | tr '\\0' e >&2; echo fatal: last >&2;"
                               " exit 128")
    assert outcome.returncode == 128 and outcome.stopped is None
    assert outcome.stderr.endswith("fatal: last\n") and len(outcome.stderr) <= 16 * 1024

"""Defaults that follow the machine hostd runs on: its CPUs, memory, trust store, home."""

from __future__ import annotations

import os
from pathlib import Path


def host_ca_bundle() -> Path | None:
    # The host's trust store: builds behind a TLS-intercepting proxy need it.
    path = Path("/etc/ssl/certs/ca-certificates.crt")
    return path if path.is_file() else None


MAX_DEFAULT_ROUTER_WORKERS = 8


def default_router_workers() -> int:
    """One router worker per CPU this process may run on, at most 8.

    The cap: a worker is ~85 MB of memory, and a big host (or a container that sees the
    host's CPU count) would otherwise start dozens of them for a local daemon.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_ROUTER_WORKERS))


FALLBACK_MEMORY_MB = 4096


def physical_memory_mb() -> int:
    """The machine's physical memory in MB (4096 where the OS does not say)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY_MB
    return total // 2**20 if total > 0 else FALLBACK_MEMORY_MB


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hostd"

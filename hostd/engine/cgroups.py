"""A parent cgroup with a pids limit for one build's step containers.

The engine's build endpoint takes memory and CPU limits for the step containers but no
pids limit, so a fork bomb in a `RUN` would run the host out of processes. It does take a
cgroup parent: hostd makes one per build with ``pids.max`` set, and the pids controller
counts every process below it. This needs the engine's ``cgroupfs`` driver and hostd on
the engine's machine (a local socket); elsewhere builds run without the pids cap and the
daemon's log says so once per build. Proven on cgroup v1 (tests/deploy/test_build_limits.py);
on cgroup v2 the same files are used under the unified hierarchy.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import docker

from hostd.engine.client import translate_errors

log = logging.getLogger("hostd.engine")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def pids_dir(name: str, root: Path = CGROUP_ROOT) -> Path | None:
    """Where the pids limit of parent `name` lives: v1's pids hierarchy or v2's tree."""
    if (root / "pids").is_dir():
        return root / "pids" / name
    if (root / "cgroup.controllers").is_file():
        return root / name
    return None


@contextlib.contextmanager
def build_cgroup(client: docker.DockerClient, name: str, pids_max: int,
                 root: Path = CGROUP_ROOT) -> Iterator[str | None]:
    """Yield the cgroup parent to give the build ("/name"), or None when the cap can't
    be set here; afterwards remove what the engine left of the parent."""
    target = pids_dir(name, root) if _local_cgroupfs(client) else None
    if target is None:
        log.warning("builds run without a pids cap: the engine is not a local cgroupfs one")
        yield None
        return
    try:
        _make_limited(target, pids_max, root)
    except OSError as exc:
        log.warning("builds run without a pids cap: %s", exc)
        yield None
        return
    try:
        yield f"/{name}"
    finally:
        _remove_everywhere(name, root)


def _local_cgroupfs(client: docker.DockerClient) -> bool:
    if not str(client.api.base_url).startswith("http+docker://localhost"):
        return False  # a remote engine: its cgroups are not this machine's
    with translate_errors("read the engine's cgroup driver"):
        return str(client.info().get("CgroupDriver", "")) == "cgroupfs"


def _make_limited(target: Path, pids_max: int, root: Path) -> None:
    if target.parent == root and (root / "cgroup.subtree_control").is_file():
        # cgroup v2: the parent's children get the pids controller only when asked for.
        controls = (root / "cgroup.subtree_control").read_text().split()
        if "pids" not in controls:
            (root / "cgroup.subtree_control").write_text("+pids")
    target.mkdir(exist_ok=True)
    (target / "pids.max").write_text(str(pids_max))


def _remove_everywhere(name: str, root: Path) -> None:
    # The engine made the parent in every v1 hierarchy (cpu, memory, …); its step
    # containers' own cgroups are gone once the build is over, so each is empty.
    candidates = [root / name, *(hierarchy / name for hierarchy in root.iterdir())]
    for directory in candidates:
        with contextlib.suppress(OSError):
            if directory.is_dir() and not directory.is_symlink():
                directory.rmdir()

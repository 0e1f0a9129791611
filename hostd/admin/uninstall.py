"""`hostd uninstall`: remove from the engine everything one install made.

The install is its data dir's instance id (or HOSTD_INSTANCE): every container, image,
network and volume labelled `hostd.instance=<id>` goes, and the untagged build stages its
deploys recorded in the data dir, and the projects' /data filesystems. The shared base
images stay unless asked (`bases`): other installs on the engine build on them, and then
only those nothing on the engine is built on go. The data dir itself stays (its
database, keys and logs are the operator's).

Only with the daemon stopped: a running daemon holds a shared lock on
`<data dir>/daemon.lock` for its whole life, and the uninstall takes it exclusively (so
a daemon started meanwhile refuses to start until the uninstall is done).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from hostd.config import INSTANCE_FILE_NAME, Settings, install_instance
from hostd.control.stages import RECORD
from hostd.engine.base_prune import prune_base_images
from hostd.engine.client import EngineClient, connect
from hostd.engine.datavol import data_images
from hostd.engine.leftovers import (
    Leftover,
    existing_images,
    instance_leftovers,
    remove_leftover,
)

LOCK_FILE = "daemon.lock"
Log = Callable[[str], None]


class DaemonRunning(Exception):
    """The install's daemon runs (it holds the data dir's lock)."""


class NoInstance(Exception):
    """The data dir names no instance: nothing on the engine is known to be its."""


@dataclass
class Outcome:
    instance: str
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # in use by another install: said why
    failed: list[str] = field(default_factory=list)


def hold_daemon_lock(settings: Settings) -> IO[bytes]:
    """For `hostd serve`: the data dir's lock, shared, held while the file stays open.
    Raises DaemonRunning while an uninstall of this data dir runs."""
    return _lock(settings, fcntl.LOCK_SH, "an uninstall of this data dir is running")


@contextlib.contextmanager
def _uninstall_lock(settings: Settings) -> Iterator[None]:
    handle = _lock(settings, fcntl.LOCK_EX, "the daemon of this data dir is running: "
                   "stop it first (hostd uninstall needs it stopped)")
    with handle:
        yield


def _lock(settings: Settings, mode: int, busy: str) -> IO[bytes]:
    settings.ensure_data_dir()
    fd = os.open(settings.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    handle = os.fdopen(fd, "r+b")
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DaemonRunning(busy) from None
    return handle


def instance_of(settings: Settings) -> str:
    """HOSTD_INSTANCE, else the id kept in the data dir; never a new one."""
    if settings.instance is not None:
        return settings.instance
    if not (settings.data_dir / INSTANCE_FILE_NAME).is_file():
        raise NoInstance(f"{settings.data_dir} holds no {INSTANCE_FILE_NAME}: no daemon ran "
                         "with this data dir (or set HOSTD_INSTANCE to the label to remove)")
    return install_instance(settings.data_dir, existing_database=True)


def recorded_stage_images(settings: Settings) -> set[str]:
    """The untagged build stages the install's deploys recorded (hostd.control.stages)."""
    found: set[str] = set()
    for record in settings.data_dir.glob(f"builds/*/{RECORD}"):
        with contextlib.suppress(OSError):
            found.update(record.read_text().split())
    return found


def uninstall(settings: Settings, log: Log, *, dry_run: bool = False,
              bases: bool = False) -> Outcome:
    """Remove (`dry_run`: name) what the install made. Raises DaemonRunning, NoInstance,
    EngineUnavailable, EngineError (listing)."""
    instance = instance_of(settings)
    with _uninstall_lock(settings):
        client = connect(settings.docker_host)
        try:
            outcome = Outcome(instance)
            found = instance_leftovers(client, instance)
            stages = existing_images(client, recorded_stage_images(settings)
                                     - {item.ref for item in found})
            for item in found + stages:
                _remove(client, item, outcome, log, dry_run, stage=item in stages)
            _release_data(settings, outcome, log, dry_run)
            if bases:
                pruned = prune_base_images(client, (), log, dry_run=dry_run, current=frozenset())
                outcome.removed += pruned.removed
                outcome.kept += [f"{tag}: {why}" for tag, why in pruned.kept.items()]
                outcome.failed += [f"{tag}: {why}" for tag, why in pruned.failed.items()]
            return outcome
        finally:
            client.close()


def _release_data(settings: Settings, outcome: Outcome, log: Log, dry_run: bool) -> None:
    """The projects' /data filesystems (hostd.engine.datavol): unmounted, their loop
    devices detached and their files removed, once no container uses them."""
    images = data_images(settings)
    if images is None:
        return
    if dry_run:
        for project_id in sorted(images.project_ids()):
            outcome.removed.append(f"/data of project {project_id}")
            log(f"/data of project {project_id}: would be removed")
        return
    before = images.project_ids()
    for why in images.release_all():
        outcome.failed.append(f"/data of project {why}")
        log(f"/data of project {why}: not removed")
    for project_id in sorted(before - images.project_ids()):
        outcome.removed.append(f"/data of project {project_id}")
        log(f"/data of project {project_id}: removed")


def _remove(client: EngineClient, item: Leftover, outcome: Outcome, log: Log, dry_run: bool,
            stage: bool) -> None:
    if dry_run:
        outcome.removed.append(str(item))
        log(f"{item}: would be removed")
        return
    reason = remove_leftover(client, item)
    if reason is None:
        outcome.removed.append(str(item))
        log(f"{item}: removed")
    elif stage and "child" in reason:
        # The engine's build cache is shared: another build stands on this stage.
        outcome.kept.append(f"{item}: another image is built on it")
        log(f"{item}: kept, another image is built on it")
    else:
        outcome.failed.append(f"{item}: {reason}")
        log(f"{item}: not removed: {reason}")

"""A size cap on each project's /data: a filesystem of its own, in a file of the data dir.

The engine's local volumes have no size limit on overlay2 over ext4 (their `size` option
needs xfs with project quotas), so hostd gives each project an ext4 filesystem in a
sparse file, `<data dir>/volumes/<project>.img`, of `HOSTD_DATA_MB`, mounted by hostd
(root) through a loop device at `<data dir>/volumes/<project>/`. The project's volume
binds its `data/` directory (hostd.engine.volumes): a write past the size fails inside
the app (ENOSPC) and the rest of the host's disk is untouched.

- The file's contents are only ever written by the kernel's ext4 driver (an app sees
  files, never the image), so hostd mounts nothing a user crafted. `mkfs.ext4 -m 0`: the
  whole size is usable, root in a container gets no more than the app user.
- `data/` exists only while the image is mounted: a container started before the mount
  is back (after a reboot) fails to start instead of writing to the host's disk.
- The loop device is attached with autoclear (`mount -o loop`): unmounting detaches it,
  nothing leaks. Mounts outlive hostd (its restart changes nothing); after a reboot the
  reconciler mounts them again (`mount_existing`). `release` unmounts and removes it all.
- Every argv is hostd's own: the tools' paths, constants and paths built from the data
  dir and a project id (checked to be hostd's hex id). Nothing reaches a shell.
All functions block (they run tools): call them from a worker thread.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from hostd.config import Settings
from hostd.engine.client import EngineError

log = logging.getLogger("hostd.engine")
PROJECT_ID = re.compile(r"[0-9a-f]{32}")
TOOL_TIMEOUT_S = 60
TOOL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# nosuid, nodev: nothing on it is a device or a setuid program on the host; discard:
# what an app deletes is given back to the host's disk (the loop device punches holes);
# noinit_itable: its inode tables read as zeros already (see _make).
MOUNT_OPTIONS = "loop,nosuid,nodev,noatime,discard,noinit_itable"
SETTING_HINT = "HOSTD_DATA_MB=0 runs projects without a /data size limit"
# One lock for every mount and unmount of this process: two deploys of one project
# (a run and a redeploy) must not both find it unmounted and mount it twice.
_MOUNTING = threading.Lock()


class DataVolumeError(EngineError):
    """A project's data filesystem could not be made, mounted or released."""


@dataclass(frozen=True)
class DataImages:
    """The projects' data filesystems under `root`, `size_mb` each when made."""

    root: Path
    size_mb: int

    def image(self, project_id: str) -> Path:
        return self.root / f"{_checked(project_id)}.img"

    def mountpoint(self, project_id: str) -> Path:
        return self.root / _checked(project_id)

    def source(self, project_id: str) -> Path:
        """What the project's volume binds: present only while its image is mounted."""
        return self.mountpoint(project_id) / "data"

    def ensure(self, project_id: str) -> Path:
        """The project's filesystem, made on first use and mounted; its `source`."""
        with _MOUNTING:
            if not self.image(project_id).exists():
                self._make(project_id)
            self._mount(project_id)
            source = self.source(project_id)
            source.mkdir(mode=0o755, exist_ok=True)
        return source

    def mount_existing(self, project_ids: set[str]) -> None:
        """Mount again what a reboot unmounted (only images that exist; none is made).
        Each failure is logged: that project's container will not start, saying why."""
        for project_id in sorted(project_ids & self.project_ids()):
            try:
                with _MOUNTING:
                    self._mount(project_id)
            except DataVolumeError as exc:
                log.warning("could not mount the /data of project %s: %s", project_id, exc)

    def release(self, project_id: str) -> None:
        """Unmount it (the loop device goes with it) and remove its file: its data is
        gone for good. DataVolumeError while something still uses it."""
        mountpoint, image = self.mountpoint(project_id), self.image(project_id)
        with _MOUNTING:
            if mountpoint.is_mount():
                _tool("umount", str(mountpoint), hint="still in use; tried again later")
            try:
                if mountpoint.is_dir():
                    mountpoint.rmdir()
                image.unlink(missing_ok=True)
            except OSError as exc:
                raise DataVolumeError(f"could not remove {mountpoint}: {exc}") from exc

    def release_all(self) -> list[str]:
        """Release every project's (an uninstall): what could not be, said why."""
        failed = []
        for project_id in sorted(self.project_ids()):
            try:
                self.release(project_id)
            except DataVolumeError as exc:
                failed.append(f"{project_id}: {exc}")
        return failed

    def project_ids(self) -> set[str]:
        """The projects that have an image here."""
        if not self.root.is_dir():
            return set()
        return {path.stem for path in self.root.glob("*.img") if PROJECT_ID.fullmatch(path.stem)}

    def _make(self, project_id: str) -> None:
        """A sparse file with an empty ext4 in it, put in place whole (a crash while
        making it leaves a `.new` file that the next try starts over)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        image = self.image(project_id)
        new = image.with_suffix(".new")
        new.unlink(missing_ok=True)
        os.close(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            os.truncate(new, self.size_mb * 1024 * 1024)
            # -m 0: no blocks reserved for root. The file is new and sparse (it reads as
            # zeros), so the journal and inode tables need no zeroing: an empty project
            # takes under 1 MB of the host's disk, not the journal's 32.
            _tool("mkfs.ext4", "-q", "-F", "-m", "0", "-L", "hostd-data", "-E",
                  "root_owner=0:0,lazy_journal_init=1,lazy_itable_init=1", str(new))
            os.replace(new, image)
        except BaseException:
            new.unlink(missing_ok=True)
            raise
        log.info("made a %d MB /data filesystem for project %s", self.size_mb, project_id)

    def _mount(self, project_id: str) -> None:
        mountpoint = self.mountpoint(project_id)
        if mountpoint.is_mount():
            return
        mountpoint.mkdir(mode=0o700, exist_ok=True)
        _tool("mount", "-t", "ext4", "-o", MOUNT_OPTIONS, str(self.image(project_id)),
              str(mountpoint))


def data_images(settings: Settings) -> DataImages | None:
    """The projects' data filesystems; None when `HOSTD_DATA_MB` is 0 (no limit)."""
    if settings.data_mb == 0:
        return None
    return DataImages(settings.data_dir.resolve() / "volumes", settings.data_mb)


def _checked(project_id: str) -> str:
    if not PROJECT_ID.fullmatch(project_id):
        raise ValueError(f"not a project id: {project_id!r}")
    return project_id


def _tool(name: str, *args: str, hint: str = SETTING_HINT) -> None:
    binary = shutil.which(name, path=TOOL_PATH)
    if binary is None:
        raise DataVolumeError(f"{name} is not installed (e2fsprogs, mount); {hint}")
    try:
        done = subprocess.run([binary, *args], capture_output=True, text=True,
                              timeout=TOOL_TIMEOUT_S, check=False, env={"PATH": TOOL_PATH})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataVolumeError(f"{name} failed: {exc}; {hint}") from exc
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DataVolumeError(f"{name} failed ({why[0][:200]}); {hint}")

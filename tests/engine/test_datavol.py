"""A project's /data filesystem on its own (hostd.engine.datavol), no engine needed: made
once however many threads ask, full at its size even for root, mounted again after a
reboot, released with nothing left (no mount, no loop device, no file). Needs root and
loop devices, as hostd does (skipped without, outside CI)."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from hostd.config import Settings
from hostd.engine.datavol import DataImages, data_images


@pytest.fixture
def images(tmp_path: Path) -> Iterator[DataImages]:
    if os.geteuid() != 0 or not Path("/dev/loop-control").exists():
        if os.environ.get("CI"):
            pytest.fail("CI runs as root with loop devices (scripts/ensure-docker)")
        pytest.skip("needs root and loop devices")
    made = DataImages(tmp_path / "volumes", 16)
    yield made
    for project_id in made.project_ids():
        made.release(project_id)


def loop_devices() -> str:
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout


def detached(image: Path, within_s: float = 10.0) -> bool:
    """Whether no loop device backs `image` (soon: the kernel clears an autoclear device
    after its last unmount asynchronously)."""
    deadline = time.monotonic() + within_s
    while str(image) in loop_devices():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_made_once_for_concurrent_callers_and_full_at_its_size(images: DataImages) -> None:
    project_id = uuid.uuid4().hex
    sources: list[Path] = []
    threads = [threading.Thread(target=lambda: sources.append(images.ensure(project_id)))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sources == [images.source(project_id)] * 6 and sources[0].is_dir()
    assert loop_devices().count(str(images.image(project_id))) == 1, "mounted twice"
    assert images.image(project_id).stat().st_blocks * 512 < 2 * 1024 * 1024, "not sparse"
    with pytest.raises(OSError) as full, (sources[0] / "fill").open("wb") as out:
        for _ in range(17):  # MB, as root (no blocks are reserved for root)
            out.write(b"\0" * 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
    assert full.value.errno in (errno.ENOSPC, errno.EDQUOT)
    assert images.image(project_id).stat().st_blocks * 512 <= 16 * 1024 * 1024


def test_mounted_again_after_a_reboot_and_released_whole(images: DataImages) -> None:
    project_id, other = uuid.uuid4().hex, uuid.uuid4().hex
    (images.ensure(project_id) / "kept").write_text("yes")
    subprocess.run(["umount", str(images.mountpoint(project_id))], check=True)  # a reboot
    assert detached(images.image(project_id))
    assert not images.source(project_id).exists(), "data/ exists while unmounted"
    images.mount_existing({project_id, other})
    assert (images.source(project_id) / "kept").read_text() == "yes"
    assert not images.image(other).exists(), "a filesystem made for no volume"
    images.release(project_id)
    images.release(project_id)  # twice is fine
    assert not images.mountpoint(project_id).exists() and not images.image(project_id).exists()
    assert detached(images.image(project_id)), "a loop device leaked"


@pytest.mark.parametrize("bad", ["../etc", "a" * 32 + "/x", "", "ABC"])
def test_only_hostd_ids_name_a_file(images: DataImages, bad: str) -> None:
    with pytest.raises(ValueError):
        images.ensure(bad)


def test_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of a developer's
    monkeypatch.setenv("HOSTD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HOSTD_DATA_MB", raising=False)
    assert data_images(Settings()) == DataImages(tmp_path.resolve() / "volumes", 1024)
    monkeypatch.setenv("HOSTD_DATA_MB", "0")
    assert data_images(Settings()) is None
    monkeypatch.setenv("HOSTD_DATA_MB", "8")
    with pytest.raises(ValidationError):
        Settings()

"""The instance label: HOSTD_INSTANCE, or an id the install makes once and keeps.

Without one of its own, every install was `default`, and a second daemon on the engine
took the first one's containers for orphans. A fresh data dir gets a random id; one whose
database predates ids adopts `default`, which its containers carry.
"""

from __future__ import annotations

import re
import stat
import threading
from pathlib import Path

import pytest

from hostd.config import INSTANCE_FILE_NAME, InstanceFileError, Settings, install_instance
from hostd.services import build_services
from hostd.store import db
from tests.support import HostdServer

ID = re.compile(r"^i-[0-9a-f]{12}$")


def settings_for(data_dir: Path, **fields: object) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, **fields)  # type: ignore[call-arg]


def test_a_fresh_install_makes_a_random_id_once(tmp_path):
    first = install_instance(tmp_path, existing_database=False)
    assert ID.match(first)
    path = tmp_path / INSTANCE_FILE_NAME
    assert path.read_text() == first + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # Kept: the next start reads it, whatever the database looks like by then.
    assert install_instance(tmp_path, existing_database=True) == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".instance-id")] == []
    other = tmp_path / "other"
    other.mkdir()
    assert install_instance(other, existing_database=False) != first


def test_an_install_from_before_ids_adopts_default(tmp_path):
    assert install_instance(tmp_path, existing_database=True) == "default"
    assert (tmp_path / INSTANCE_FILE_NAME).read_text() == "default\n"


def test_daemons_starting_at_once_on_one_data_dir_agree(tmp_path):
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def start() -> None:
        barrier.wait()
        seen.append(install_instance(tmp_path, existing_database=False))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len(set(seen)) == 1


@pytest.mark.parametrize("text", ["", "UPPER\n", "has space", "-leading-dash", "x" * 64])
def test_a_damaged_id_file_is_refused(tmp_path, text):
    (tmp_path / INSTANCE_FILE_NAME).write_text(text)
    with pytest.raises(InstanceFileError, match="HOSTD_INSTANCE"):
        install_instance(tmp_path, existing_database=False)


def test_an_explicit_instance_writes_no_file(tmp_path):
    settings = settings_for(tmp_path, instance="shared-label")
    assert settings.with_instance(existing_database=False) is settings
    assert settings.instance_label == "shared-label"
    assert not (tmp_path / INSTANCE_FILE_NAME).exists()


def test_the_label_is_decided_before_it_is_used(tmp_path):
    with pytest.raises(RuntimeError):
        _ = settings_for(tmp_path).instance_label


def test_build_services_gives_a_fresh_data_dir_its_own_id(tmp_path):
    services = build_services(settings_for(tmp_path / "fresh"))
    try:
        assert ID.match(services.settings.instance_label)
        assert services.reconciler.instance == services.settings.instance_label
    finally:
        services.db.dispose()


def test_build_services_keeps_default_for_a_database_from_before_ids(tmp_path):
    # What an older hostd left: a migrated database, no id file; its apps say `default`.
    data_dir = tmp_path / "old"
    data_dir.mkdir()
    old = db.make_engine(f"sqlite:///{data_dir / 'hostd.db'}")
    db.migrate(old)
    old.dispose()
    services = build_services(settings_for(data_dir))
    try:
        assert services.settings.instance_label == "default"
        assert (data_dir / INSTANCE_FILE_NAME).read_text() == "default\n"
    finally:
        services.db.dispose()


def test_start_up_stops_on_a_damaged_id_file(tmp_path):
    server = HostdServer(data_dir=tmp_path / "data", own_instance=True)
    server.data_dir.mkdir()
    (server.data_dir / INSTANCE_FILE_NAME).write_text("not an id!\n")
    done = server.run("serve", timeout=60)
    assert done.returncode == 2, done.stderr
    assert "HOSTD_INSTANCE" in done.stderr and "instance-id" in done.stderr

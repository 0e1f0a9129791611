"""`hostd uninstall` and the daemon exclude each other through the data dir's lock: a
daemon does not start while an uninstall holds it (the uninstall's refusal while the
daemon runs is tests/deploy/test_uninstall.py's)."""

from __future__ import annotations

import fcntl

from tests.support import HostdServer


def test_a_daemon_does_not_start_during_an_uninstall(tmp_path):
    server = HostdServer(data_dir=tmp_path / "data")
    server.data_dir.mkdir()
    with (server.data_dir / "daemon.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as `hostd uninstall` holds it
        refused = server.run("serve", timeout=30)
    assert refused.returncode == 2, refused.stderr
    assert "an uninstall of this data dir is running" in refused.stderr
    assert not (server.data_dir / "hostd.db").exists(), "it stopped before the database"


def test_uninstall_without_an_instance_id_removes_nothing(tmp_path):
    server = HostdServer(data_dir=tmp_path / "fresh", own_instance=True)
    result = server.run("uninstall", "--yes")
    assert result.returncode == 2 and "holds no instance-id" in result.stderr, result

"""Readings from cgroup files (v1 and v2 layouts) and the stats API, and the formulas."""

from __future__ import annotations

from pathlib import Path

from hostd.control.metrics import cpu_percent, memory_mb
from hostd.control.runtime import Usage as Reading
from hostd.engine.stats import MIB, read_cgroup, read_cgroups, reading_from_stats

CID = "ab" * 32


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v1_reading(tmp_path):
    write(tmp_path / "cpuacct/docker" / CID / "cpuacct.usage", "123456789\n")
    mem = tmp_path / "memory/docker" / CID
    write(mem / "memory.usage_in_bytes", str(30 * MIB))
    write(mem / "memory.stat", f"cache 1\ninactive_file 5\ntotal_inactive_file {10 * MIB}\n")
    reading = read_cgroup(CID, tmp_path)
    assert reading is not None
    assert reading.cpu_ns == 123456789
    assert memory_mb(reading) == 20.0


def test_cgroup_v2_reading(tmp_path):
    group = tmp_path / "system.slice" / f"docker-{CID}.scope"
    write(group / "cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
    write(group / "memory.current", str(8 * MIB))
    write(group / "memory.stat", f"anon 1\ninactive_file {2 * MIB}\n")
    reading = read_cgroup(CID, tmp_path)
    assert reading is not None and reading.cpu_ns == 2_500_000
    assert memory_mb(reading) == 6.0


def test_absent_cgroup_files_are_left_out(tmp_path):
    assert read_cgroup(CID, tmp_path) is None
    assert read_cgroups([CID, "cd" * 32], tmp_path) == {}


def test_cpu_percent_is_of_one_core():
    before = Reading(cpu_ns=1_000_000_000, memory_bytes=0, at_ns=0)
    half = Reading(cpu_ns=1_500_000_000, memory_bytes=0, at_ns=1_000_000_000)
    two_cores = Reading(cpu_ns=3_000_000_000, memory_bytes=0, at_ns=1_000_000_000)
    assert cpu_percent(before, half) == 50.0
    assert cpu_percent(before, two_cores) == 200.0
    assert cpu_percent(half, before) == 0.0  # a counter that went back: a restart


def test_reading_from_the_stats_api():
    v1 = {"cpu_stats": {"cpu_usage": {"total_usage": 42}},
          "memory_stats": {"usage": 5 * MIB, "stats": {"total_inactive_file": MIB}}}
    v2 = {"cpu_stats": {"cpu_usage": {"total_usage": 7}},
          "memory_stats": {"usage": 3 * MIB, "stats": {"inactive_file": MIB}}}
    assert reading_from_stats(v1, 1) == Reading(42, 4 * MIB, 1)
    assert reading_from_stats(v2, 1) == Reading(7, 2 * MIB, 1)
    assert reading_from_stats({"cpu_stats": {}, "memory_stats": {}}, 1) is None


def test_read_cgroups_on_this_host_reads_real_containers():
    # Where the engine runs here with cgroup v1, a running container has a reading.
    root = Path("/sys/fs/cgroup/cpuacct/docker")
    ids = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    if ids:
        assert read_cgroups(ids[:3])

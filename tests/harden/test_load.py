"""Mixed load for a bounded time (bench/load.py, scaled down): no 5xx, no transport
error, and no lost write: every 201 is in its owner's list afterwards.

The daemon is the real one on FakeRuntime (tests/fakes), in this process: the load is
the API, the database and the deploy queue (every deploy fails at its clone, and a
start or stop of a project with no container asks the engine nothing), so it runs in
the unit tier. bench/load.py measures the same load on a daemon of its own, on the
real engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.load import SETTINGS, lost_writes, report, run_load
from tests.fakes.daemon import FakeDaemon, fake_daemon
from tests.support import register

# Seconds of load, all CPU: in `make test`, not in the quick `make unit`.
pytestmark = pytest.mark.slow

CLIENTS, USERS, SECONDS = 20, 4, 15.0


@pytest.fixture
def load_hostd(tmp_path: Path) -> Iterator[FakeDaemon]:
    with fake_daemon(tmp_path / "data", **SETTINGS) as daemon:
        yield daemon


def test_mixed_load_has_no_5xx_and_loses_no_write(load_hostd: FakeDaemon) -> None:
    with load_hostd.client() as client:
        tokens = [register(client)[0] for _ in range(USERS)]
    results = run_load(load_hostd.url, tokens, CLIENTS, SECONDS)
    lost = lost_writes(load_hostd.url, results)
    print(report(results, SECONDS, lost))  # p95 and throughput, in the -s / -rP output
    assert results.server_errors == 0, report(results, SECONDS, lost)
    assert results.transport_errors == 0
    assert lost == 0
    assert results.statuses[201] > 0 and len(results.latencies_ms) > CLIENTS
    # 429: a user creating faster than their deploys finish fills their deploy queue
    # (HOSTD_MAX_QUEUED_DEPLOYS); a refused create stores nothing, so no write is lost.
    assert set(results.statuses) <= {200, 201, 409, 429}, results.statuses

"""Request counts: the daemon's counter and a router worker's pending counts."""

from __future__ import annotations

from hostd.router.counts import PendingCounts, RequestCounter
from hostd.router.worker import decode_counts, encode_counts


def test_counts_are_per_start():
    counter = RequestCounter()
    counter.hit("p", "c1:1")
    counter.add("p", "c1:1", 4)
    assert counter.read("p", "c1:1") == 5
    counter.add("p", "c1:2", 2)  # a new start counts from zero
    assert counter.read("p", "c1:2") == 2
    counter.add("p", "c1:1", 3)  # a worker's late report for the old start
    assert counter.read("p", "c1:2") == 2 and counter.read("p", "c1:1") == 8
    assert counter.read("other", "c1:1") == 0


def test_only_a_few_starts_are_kept_per_project():
    counter = RequestCounter()
    for port in range(10):
        counter.hit("p", f"c:{port}")
    assert counter.read("p", "c:0") == 0 and counter.read("p", "c:9") == 1


def test_pending_counts_drain_and_restore():
    pending = PendingCounts()
    for _ in range(3):
        pending.hit("p", "s")
    pending.hit("q", "t")
    drained = pending.drain()
    assert sorted(drained) == [("p", "s", 3), ("q", "t", 1)]
    assert pending.drain() == []
    pending.restore(drained)
    pending.hit("p", "s")
    assert sorted(pending.drain()) == [("p", "s", 4), ("q", "t", 1)]


def test_counts_message_round_trip():
    counts = [("p", "c:1", 3), ("q", "None:None", 1)]
    assert decode_counts(encode_counts(counts)) == counts

"""The event hub on its own: isolation, bounded queues, release, listeners, replay."""

from __future__ import annotations

import asyncio
import threading
import time

from hostd.events import DEFAULT_QUEUE_SIZE, EventHub


def run(coro):
    return asyncio.run(coro)


def test_events_reach_only_their_users_subscribers():
    async def scenario():
        hub = EventHub()
        hub.bind(asyncio.get_running_loop())
        async with hub.subscribe("alice") as alice, hub.subscribe("bob") as bob:
            hub.publish("alice", "status_changed", {"projectId": "p1"})
            assert alice.queue.get_nowait().data == {"projectId": "p1"}
            assert bob.queue.empty()
            assert hub.subscriber_count == 2
        assert hub.subscriber_count == 0

    run(scenario())


def test_a_slow_subscriber_loses_its_oldest_events_only():
    async def scenario():
        hub = EventHub()
        hub.bind(asyncio.get_running_loop())
        async with hub.subscribe("u") as slow, hub.subscribe("u") as fast:
            for i in range(DEFAULT_QUEUE_SIZE + 10):
                hub.publish("u", "metrics_updated", {"n": i})
                fast.queue.get_nowait()
            assert slow.queue.qsize() == DEFAULT_QUEUE_SIZE
            assert slow.dropped == 10
            assert slow.queue.get_nowait().data == {"n": 10}

    run(scenario())


def test_publish_from_another_thread_arrives_with_increasing_ids():
    async def scenario():
        hub = EventHub()
        hub.bind(asyncio.get_running_loop())
        async with hub.subscribe("u") as sub:
            thread = threading.Thread(
                target=lambda: [hub.publish("u", "e", {"i": i}) for i in range(5)])
            thread.start()
            thread.join()
            got = [await asyncio.wait_for(sub.queue.get(), 1) for _ in range(5)]
        ids = [e.id for e in got]
        assert ids == sorted(ids) and len(set(ids)) == 5
        assert [e.data["i"] for e in got] == list(range(5))

    run(scenario())


def test_listeners_see_every_user_and_a_failing_one_stops_nothing():
    async def scenario():
        hub = EventHub()
        hub.bind(asyncio.get_running_loop())
        seen = []
        hub.listen(lambda e: 1 / 0)
        hub.listen(seen.append)
        async with hub.subscribe("a") as sub:
            hub.publish("a", "x", {})
            hub.publish("b", "y", {})
            assert sub.queue.qsize() == 1
        assert [e.name for e in seen] == ["x", "y"]

    run(scenario())


def test_missed_status_changes_are_kept_for_replay_but_metrics_are_not():
    async def scenario():
        hub = EventHub()
        hub.bind(asyncio.get_running_loop())
        mark = hub.next_id()
        hub.publish("a", "status_changed", {"status": "stopped"})
        hub.publish("a", "metrics_updated", {})
        hub.publish("b", "status_changed", {"status": "running"})
        missed = hub.missed("a", mark)
        assert [(e.name, e.data["status"]) for e in missed] == [("status_changed", "stopped")]
        assert hub.missed("a", missed[-1].id) == []

    run(scenario())


def test_ids_of_a_new_hub_are_above_the_old_ones():
    # A restarted daemon: a client's Last-Event-ID from before stays lower than new ids.
    # Ids start at the start time in µs: fewer ids than µs elapsed keeps them apart.
    old = EventHub()
    last = max(old.next_id() for _ in range(1000))
    time.sleep(0.01)
    assert EventHub().next_id() > last

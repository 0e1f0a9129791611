"""FairQueue, the deploy scheduler's pure logic: order, one running per user, the cap,
removal by project, and many threads at once (no lost job, no lost wakeup)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from hostd.control.fairqueue import START, FairQueue, QueueFull


def put(queue: FairQueue[str], user: str, job: str, project: str | None = None) -> None:
    queue.put(queue.reserve(user), project or job, job)


def run_one_at_a_time(queue: FairQueue[str]) -> list[str]:
    """One worker: take, finish, take… until nothing is left."""
    order = []
    while (entry := queue.take(timeout=0)) is not None:
        order.append(entry.job)
        queue.done(entry)
    return order


def test_users_take_turns_and_each_keeps_its_own_order() -> None:
    queue: FairQueue[str] = FairQueue(cap=10)
    for job in ("A1", "A2", "A3"):
        put(queue, "a", job)
    for job in ("B1", "B2", "B3"):
        put(queue, "b", job)
    put(queue, "c", "C1")
    assert run_one_at_a_time(queue) == ["A1", "B1", "C1", "A2", "B2", "A3", "B3"]


def test_a_user_who_arrives_while_another_runs_goes_next() -> None:
    queue: FairQueue[str] = FairQueue(cap=10)
    put(queue, "a", "A1")
    first = queue.take(timeout=0)
    assert first is not None and first.job == "A1"
    put(queue, "a", "A2")
    put(queue, "a", "A3")
    put(queue, "b", "B1")  # queued after A2 and A3, but A was just served
    put(queue, "b", "B2")
    queue.done(first)
    assert run_one_at_a_time(queue) == ["B1", "A2", "B2", "A3"]


def test_at_most_one_running_job_per_user() -> None:
    queue: FairQueue[str] = FairQueue(cap=10)
    put(queue, "a", "A1")
    put(queue, "a", "A2")
    put(queue, "b", "B1")
    first, second = queue.take(timeout=0), queue.take(timeout=0)
    assert first is not None and second is not None
    assert {first.job, second.job} == {"A1", "B1"}
    assert queue.take(timeout=0.05) is None, "A2 must wait while A1 runs"
    queue.done(first if first.job == "A1" else second)
    third = queue.take(timeout=0)
    assert third is not None and third.job == "A2"


def test_the_cap_counts_waiting_jobs_not_the_running_one() -> None:
    queue: FairQueue[str] = FairQueue(cap=2, typical_s=30.0, clock=lambda: 100.0)
    put(queue, "a", "A1")
    assert queue.take(timeout=0) is not None  # A1 runs
    put(queue, "a", "A2")
    put(queue, "a", "A3")
    with pytest.raises(QueueFull) as refused:
        queue.reserve("a")
    assert refused.value.waiting == 2 and refused.value.retry_after_s == 30
    put(queue, "b", "B1")  # another user's queue is their own
    assert queue.waiting("a") == 2 and queue.waiting("b") == 1


def test_retry_after_is_the_expected_rest_of_the_running_deploy() -> None:
    now = [0.0]
    queue: FairQueue[str] = FairQueue(cap=1, typical_s=20.0, clock=lambda: now[0])
    put(queue, "a", "A1")
    entry = queue.take(timeout=0)
    assert entry is not None
    now[0] = 10.0
    queue.done(entry)  # a 10 s deploy pulls the estimate down: 20 → 17
    put(queue, "a", "A2")
    assert queue.take(timeout=0) is not None  # starts at t=10
    put(queue, "a", "A3")
    now[0] = 12.0
    with pytest.raises(QueueFull) as refused:
        queue.reserve("a")
    assert refused.value.retry_after_s == 15  # 17 expected, 2 gone
    now[0] = 100.0  # overdue: still a short positive wait, never 0
    with pytest.raises(QueueFull) as refused:
        queue.reserve("a")
    assert refused.value.retry_after_s == 1


def test_a_reservation_holds_a_slot_until_filled_or_released() -> None:
    queue: FairQueue[str] = FairQueue(cap=1)
    slot = queue.reserve("a")
    with pytest.raises(QueueFull):
        queue.reserve("a")
    queue.release(slot)
    queue.release(slot)  # twice is harmless
    with queue.reserve("a") as again:
        queue.put(again, "p", "A1")
    with pytest.raises(QueueFull):
        queue.reserve("a")  # filled: the slot stays taken after the block
    with pytest.raises(ValueError):
        queue.put(again, "p", "A2")


def test_a_failed_block_releases_its_reservation() -> None:
    queue: FairQueue[str] = FairQueue(cap=1)
    with pytest.raises(RuntimeError), queue.reserve("a"):
        raise RuntimeError("the project could not be stored")
    queue.reserve("a")


def test_remove_project_drops_only_its_waiting_jobs() -> None:
    queue: FairQueue[str] = FairQueue(cap=10)
    put(queue, "a", "P-run", "p")
    running = queue.take(timeout=0)
    assert running is not None
    put(queue, "a", "P-2", "p")
    put(queue, "a", "Q-1", "q")
    put(queue, "a", "P-3", "p")
    put(queue, "b", "R-1", "r")
    assert queue.remove_project("p") == ["P-2", "P-3"]
    assert queue.running("p") == "P-run", "the running job is not the queue's to stop"
    assert queue.holds("p") and queue.holds("q") and not queue.holds("nothing")
    queue.done(running)
    assert not queue.holds("p")
    assert run_one_at_a_time(queue) == ["R-1", "Q-1"]


def test_reserve_replacing_a_project_does_not_count_its_waiting_jobs() -> None:
    queue: FairQueue[str] = FairQueue(cap=1)
    put(queue, "a", "A1", "p")
    assert queue.take(timeout=0) is not None
    put(queue, "a", "A2", "p")
    with pytest.raises(QueueFull):
        queue.reserve("a")
    slot = queue.reserve("a", replacing="p")
    assert queue.remove_project("p") == ["A2"]
    queue.put(slot, "p", "A3")
    assert queue.waiting("a") == 1


def test_concurrent_reservations_never_pass_the_cap() -> None:
    queue: FairQueue[str] = FairQueue(cap=3)
    barrier = threading.Barrier(20)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def try_once() -> None:
        barrier.wait(timeout=5)
        try:
            queue.reserve("a")
            ok = True
        except QueueFull:
            ok = False
        with lock:
            outcomes.append(ok)

    threads = [threading.Thread(target=try_once) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert Counter(outcomes) == {True: 3, False: 17}


def test_a_blocked_worker_wakes_for_a_new_job_and_for_a_freed_user() -> None:
    queue: FairQueue[str] = FairQueue(cap=10)
    got: list[str] = []

    def worker() -> None:
        entry = queue.take(timeout=5)
        if entry is not None:
            got.append(entry.job)

    put(queue, "a", "A1")
    first = queue.take(timeout=0)
    assert first is not None
    waiter = threading.Thread(target=worker)
    waiter.start()
    time.sleep(0.05)
    put(queue, "a", "A2")  # not runnable yet: A1 runs
    time.sleep(0.05)
    assert got == []
    started = time.monotonic()
    queue.done(first)  # now it is: the waiting worker must wake, not time out
    waiter.join(timeout=5)
    assert got == ["A2"] and time.monotonic() - started < 1.0


def test_many_workers_and_producers_lose_nothing_and_never_run_a_user_twice() -> None:
    queue: FairQueue[str] = FairQueue(cap=1000)
    users, per_user, workers = 6, 40, 4
    running: Counter[str] = Counter()
    ran: list[str] = []
    lock = threading.Lock()
    overlap: list[str] = []

    def work() -> None:
        while (entry := queue.take(timeout=2)) is not None:
            with lock:
                running[entry.user_id] += 1
                if running[entry.user_id] > 1:
                    overlap.append(entry.user_id)
            time.sleep(0.0005)
            with lock:
                running[entry.user_id] -= 1
                ran.append(entry.job)
            queue.done(entry)

    def produce(user: str) -> None:
        for n in range(per_user):
            put(queue, user, f"{user}-{n}")

    threads = [threading.Thread(target=work) for _ in range(workers)]
    threads += [threading.Thread(target=produce, args=(f"u{u}",)) for u in range(users)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(ran) < users * per_user and time.monotonic() < deadline:
        time.sleep(0.01)
    queue.close()
    for thread in threads:
        thread.join(timeout=5)
    assert not overlap, f"two jobs of one user ran at once: {overlap[:5]}"
    assert sorted(ran) == sorted(f"u{u}-{n}" for u in range(users) for n in range(per_user))
    for u in range(users):  # each user's own jobs in their order
        mine = [job for job in ran if job.startswith(f"u{u}-")]
        assert mine == [f"u{u}-{n}" for n in range(per_user)]


def test_close_wakes_every_worker() -> None:
    queue: FairQueue[str] = FairQueue(cap=1)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(queue.take())) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    queue.close()
    for thread in threads:
        thread.join(timeout=2)
    assert results == [None, None, None]


# --- stages --------------------------------------------------------------------------------


def take(queue: FairQueue[str], stage: str = START) -> str:
    entry = queue.take(stage, timeout=0)
    assert entry is not None, f"nothing to take for {stage}"
    return entry.job


def test_a_job_between_stages_holds_no_worker_of_another_stage() -> None:
    queue: FairQueue[str] = FairQueue(cap=10)
    put(queue, "a", "A1")
    sleeper = queue.take(timeout=0)
    assert sleeper is not None
    queue.hand_over(sleeper, "release")  # A1 built; now it waits for a release worker
    put(queue, "b", "B1")
    assert take(queue) == "B1", "the deploy worker A1 left serves B"
    assert take(queue, "release") == "A1"
    assert queue.in_stage("release") == 1 and queue.in_stage(START) == 1
    assert queue.take("release", timeout=0) is None


@pytest.mark.parametrize("slow", ["release", "build"])
def test_however_many_sleep_in_release_a_newcomer_starts_at_once(slow: str) -> None:
    """The `slow` stage's workers all held (release phases or builds that sleep), more
    jobs waiting for it: only those wait, a newcomer's job starts at once."""
    queue: FairQueue[str] = FairQueue(cap=10)
    slow_workers = 2
    for n in range(50):
        put(queue, f"sleeper{n}", f"S{n}")
        entry = queue.take(timeout=0)
        assert entry is not None
        queue.hand_over(entry, slow)
    sleeping = [queue.take(slow, timeout=0) for _ in range(slow_workers)]
    assert all(sleeping) and queue.in_stage(slow) == slow_workers
    put(queue, "newcomer", "N1")
    newcomer = queue.take(timeout=0)
    assert newcomer is not None and newcomer.job == "N1"
    if slow == "release":  # and builds, and goes live
        queue.hand_over(newcomer, "build")
        assert take(queue, "build") == "N1"
        queue.done(newcomer)
        assert not queue.holds("N1")


def test_a_user_runs_one_job_at_a_time_across_stages() -> None:
    queue: FairQueue[str] = FairQueue(cap=10)
    put(queue, "a", "A1")
    put(queue, "a", "A2")
    first = queue.take(timeout=0)
    assert first is not None
    queue.hand_over(first, "release")
    assert queue.take(timeout=0) is None, "A2 must wait while A1 is between stages"
    assert take(queue, "release") == "A1"
    queue.hand_over(first, START)
    assert take(queue) == "A1", "A1 goes on before A2 starts"
    queue.done(first)
    assert take(queue) == "A2"


def test_in_each_stage_the_user_served_least_recently_goes_first() -> None:
    queue: FairQueue[str] = FairQueue(cap=10)
    entries = {}
    for user in ("a", "b", "c"):
        put(queue, user, user.upper())
        entry = queue.take(timeout=0)
        assert entry is not None
        entries[user] = entry
    for user in ("c", "a", "b"):  # handed over in this order, but served a, b, c
        queue.hand_over(entries[user], "release")
    assert [take(queue, "release") for _ in range(3)] == ["A", "B", "C"]


def test_withdraw_takes_out_only_a_job_between_stages() -> None:
    queue: FairQueue[str] = FairQueue(cap=10)
    put(queue, "a", "A1", "p")
    put(queue, "a", "A2", "q")
    entry = queue.take(timeout=0)
    assert entry is not None
    assert queue.withdraw("p") is None, "a worker runs it: the worker ends it"
    queue.hand_over(entry, "release")
    assert queue.withdraw("p") is entry
    assert queue.take("release", timeout=0) is None and not queue.holds("p")
    queue.done(entry)  # the worker that had it may still call done: harmless
    assert take(queue) == "A2"


def test_staged_workers_lose_nothing_and_never_run_a_user_twice() -> None:
    queue: FairQueue[str] = FairQueue(cap=1000)
    stages = [START, "build", "release", START]
    users, per_user = 6, 15
    active: Counter[str] = Counter()
    ran: list[str] = []
    lock = threading.Lock()
    overlap: list[str] = []
    passed: Counter[str] = Counter()  # job → stages done

    def work(stage: str) -> None:
        while (entry := queue.take(stage, timeout=2)) is not None:
            with lock:
                active[entry.user_id] += 1
                overlap.extend([entry.user_id] if active[entry.user_id] > 1 else [])
            time.sleep(0.0005)
            with lock:
                passed[entry.job] += 1
                done_stages = passed[entry.job]
                active[entry.user_id] -= 1
                if done_stages == len(stages):
                    ran.append(entry.job)
            if done_stages == len(stages):
                queue.done(entry)
            else:
                queue.hand_over(entry, stages[done_stages])

    threads = [threading.Thread(target=work, args=(stage,))
               for stage in (START, START, "build", "release")]
    for thread in threads:
        thread.start()
    for u in range(users):
        for n in range(per_user):
            put(queue, f"u{u}", f"u{u}-{n}")
    deadline = time.monotonic() + 20
    while len(ran) < users * per_user and time.monotonic() < deadline:
        time.sleep(0.01)
    queue.close()
    for thread in threads:
        thread.join(timeout=5)
    assert not overlap, f"two stages of one user ran at once: {overlap[:5]}"
    assert sorted(ran) == sorted(f"u{u}-{n}" for u in range(users) for n in range(per_user))
    for u in range(users):
        mine = [job for job in ran if job.startswith(f"u{u}-")]
        assert mine == [f"u{u}-{n}" for n in range(per_user)]

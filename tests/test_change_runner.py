"""The changes that wait for an app run on threads of their own (hostd.control.change_runner): one
per project at a time (a second is a 409 at once), at most N threads in all and M per
user, the rest waiting on the event loop without a thread."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from hostd.control.change_runner import ChangeRunner
from hostd.errors import Conflict


class Gate:
    """Blocking work that records how many run at once, per user and in all."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.most_total = 0

    def work(self, user: str) -> str:
        with self.lock:
            self.running[user] = self.running.get(user, 0) + 1
            self.most[user] = max(self.most.get(user, 0), self.running[user])
            self.most_total = max(self.most_total, sum(self.running.values()))
        self.release.wait(10)
        with self.lock:
            self.running[user] -= 1
        return user


def test_a_second_change_of_a_project_under_way_is_a_conflict_at_once() -> None:
    async def scenario() -> None:
        runner, gate = ChangeRunner(threads=4, per_user=2), Gate()
        first = asyncio.create_task(runner.run("p1", "alice", "shop", gate.work, "alice"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(Conflict, match="shop is already being changed"):
            await runner.run("p1", "alice", "shop", gate.work, "alice")
        assert time.monotonic() - started < 0.5
        gate.release.set()
        assert await first == "alice"
        assert not runner.busy("p1")  # and the next change may start
        assert await runner.run("p1", "alice", "shop", gate.work, "alice") == "alice"

    asyncio.run(scenario())


def test_changes_are_capped_per_user_and_in_all_and_the_rest_wait() -> None:
    async def scenario() -> None:
        runner, gate = ChangeRunner(threads=3, per_user=2), Gate()
        tasks = [asyncio.create_task(runner.run(f"{user}{i}", user, "app", gate.work, user))
                 for user in ("alice", "bob") for i in range(10)]
        await asyncio.sleep(0.3)
        assert sum(gate.running.values()) == 3, gate.running  # the others wait, no thread
        gate.release.set()
        done = await asyncio.gather(*tasks)
        assert sorted(done) == ["alice"] * 10 + ["bob"] * 10
        assert gate.most_total == 3 and max(gate.most.values()) == 2, gate.most

    asyncio.run(scenario())


def test_a_failing_change_frees_the_project() -> None:
    def fail() -> None:
        raise Conflict("did not come up")

    async def scenario() -> None:
        runner = ChangeRunner(threads=1, per_user=1)
        with pytest.raises(Conflict, match="did not come up"):
            await runner.run("p1", "alice", "shop", fail)
        assert not runner.busy("p1")

    asyncio.run(scenario())

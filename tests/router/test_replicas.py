"""The router balancing a project's web replicas (hostd.router.balance), with no engine: the
real router on its own loop, replicas that are real servers on loopback ports, and a route
table the test changes as the control plane would (replicas added, retired, dead).

Each case: requests spread, a slow replica gets fewer, a dead one (refusing, or hanging
up as the engine's port proxy does for a killed container) costs no request, a retired one
gets no new requests while what it carries (a request, a tunnel) completes, and a project
with one upstream behaves as it did before replicas.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from hostd.router.counts import RequestCounter
from hostd.router.proxy import Router
from hostd.router.table import Route
from tests.router.proxykit import RouterThread, StaticTable
from tests.router.replicakit import WAIT_S, Client, HangUp, Replica
from tests.support import free_port

KEY = ("shop", "alice")
BASE = Route("p-shop", "shop", "alice", "running", "c1", None, release=1)


class Rig:
    """The router with a route table the test rewrites, and its request counter."""

    def __init__(self) -> None:
        self.routes = {KEY: BASE}
        self.counter = RequestCounter()
        self.routers: list[Router] = []
        self.thread = RouterThread(self._make)

    def _make(self) -> Router:
        self.routers.append(Router(StaticTable(self.routes), self.counter))
        return self.routers[-1]

    def serve(self, *ports: int, host_port: int | None = None) -> None:
        """The project's route now: these replica ports (the control plane's switch)."""
        self.routes[KEY] = replace(BASE, replicas=tuple(ports), host_port=host_port)

    def client(self) -> Client:
        return Client(self.thread.port, "shop.alice")

    def counted(self) -> int:
        return self.counter.read(BASE.project_id, BASE.started)


@pytest.fixture
def rig() -> Iterator[Rig]:
    made = Rig()
    with made.thread:
        yield made
    assert made.thread.errors == []


def load(rig: Rig, path: str, clients: int, each: int) -> list[int]:
    """`clients` keep-alive clients at once, `each` requests each: every status."""
    def run(_: int) -> list[int]:
        client = rig.client()
        try:
            return [client.get(path).status_code for _ in range(each)]
        finally:
            client.close()

    with ThreadPoolExecutor(clients) as pool:
        return [status for statuses in pool.map(run, range(clients)) for status in statuses]


def test_requests_spread_across_three_replicas(rig: Rig) -> None:
    with Replica("a") as a, Replica("b") as b, Replica("c") as c:
        rig.serve(a.port, b.port, c.port)
        client = rig.client()
        names = [client.get("/who").text for _ in range(30)]
        client.close()
    # One request at a time: every replica idle at each choice, so round robin.
    assert sorted(names) == ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    assert rig.counted() == 30, "counted per project, whichever replica answered"


def test_a_slow_replica_gets_fewer_requests(rig: Rig) -> None:
    with Replica("slow", delay_s=0.4) as slow, Replica("b") as b, Replica("c") as c:
        rig.serve(slow.port, b.port, c.port)
        statuses = load(rig, "/slow", clients=6, each=12)
    assert statuses == [200] * 72
    got = slow.hits["/slow"], b.hits["/slow"], c.hits["/slow"]
    # Its requests stay open 0.4 s each: the others, idle again at once, win the choice.
    assert got[0] < got[1] and got[0] < got[2], got
    assert sum(got) == 72 and rig.counted() == 72


def test_a_dead_replica_costs_no_request(rig: Rig) -> None:
    dead = free_port()  # nothing listens: every connect is refused
    with Replica("a") as a, Replica("b") as b:
        rig.serve(a.port, dead, b.port)
        statuses = load(rig, "/who", clients=4, each=10)
        balancer = rig.routers[0].balancer
        assert balancer.cooling(dead) and not balancer.cooling(a.port)
    assert statuses == [200] * 40
    assert a.hits["/who"] + b.hits["/who"] == 40 and rig.counted() == 40


def test_a_replica_that_hangs_up_unanswered_costs_no_idempotent_request(rig: Rig) -> None:
    """A replica killed a moment ago: the engine's proxy on its port still accepts, then
    hangs up. A GET it took goes to another replica, and it is out of the balance for a
    while; a POST is never sent twice (it may have reached the app): a 502. A GET goes
    on once only: two replicas that hang up are a 502 (a request that kills its app
    takes two replicas down at most)."""
    with Replica("a") as a, HangUp() as gone, Replica("b") as b, HangUp() as other:
        rig.serve(a.port, gone.port, b.port)
        statuses = load(rig, "/who", clients=4, each=10)
        assert rig.routers[0].balancer.cooling(gone.port)
        taken = gone.accepted
        rig.routers[0].balancer.succeeded(gone.port)  # back in the round robin
        rig.serve(gone.port, a.port)
        client = rig.client()
        posted = sorted(client.http.post("/post").status_code for _ in range(2))
        after_post = gone.accepted
        rig.serve(gone.port, other.port, a.port)
        for port in (gone.port, other.port):
            rig.routers[0].balancer.succeeded(port)
        rig.routers[0].balancer.failed(a.port)  # the first choices: the two that hang up
        twice = client.get("/who")
        client.close()
    assert statuses == [200] * 40
    assert a.hits["/who"] + b.hits["/who"] == 40 and taken <= 4
    assert posted == [200, 502] and after_post == taken + 1 and a.hits["/post"] == 1
    assert twice.status_code == 502 and gone.accepted + other.accepted == after_post + 2


def test_only_dead_replicas_answer_502(rig: Rig) -> None:
    rig.serve(free_port(), free_port())
    client = rig.client()
    response = client.get("/who")
    client.close()
    assert response.status_code == 502 and "hostd router" in response.text


def test_a_retired_replica_gets_no_new_requests_and_finishes_its_own(rig: Rig) -> None:
    with Replica("old") as old, Replica("new") as new:
        rig.serve(old.port)
        holder, tunneller = rig.client(), rig.client()
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(holder.get, "/hold")
            assert old.holding.wait(WAIT_S)
            tunnel = tunneller.tunnel()
            rig.serve(new.port)  # the switch: old is retired, draining
            client = rig.client()
            names = [client.get("/who").text for _ in range(10)]
            client.close()
            tunnel.sendall(b"still here")
            echoed = tunnel.recv(64)
            # What the drain waits on (hostd.router.drain): the request and the tunnel.
            draining = rig.routers[0].pool.in_flight(old.port)
            tunnel.close()
            old.release.set()
            response = held.result(WAIT_S)
        holder.close()
        tunneller.close()
    assert names == ["new"] * 10 and old.hits["/who"] == 0
    assert echoed == b"still here", "the tunnel on the retired replica carries on"
    assert draining == 2
    assert response.status_code == 200 and response.text == "old"
    assert rig.counted() == 12  # ten, the held one, the tunnel's 101


def test_one_upstream_behaves_as_before(rig: Rig) -> None:
    """A project without replica rows: its own host port, as before the balancer."""
    with Replica("only") as only:
        rig.serve(host_port=only.port)
        client = rig.client()
        assert [client.get("/who").text for _ in range(5)] == ["only"] * 5
        client.close()
        port = only.port
    assert rig.counted() == 5
    client = rig.client()
    assert client.get("/who").status_code == 502  # its app is gone
    with Replica("back", port=port):
        # Back on the same port: the failed connect a moment ago does not keep it out.
        assert client.get("/who").text == "back"
    client.close()

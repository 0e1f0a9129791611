"""The balancer's choice (hostd.router.balance): least outstanding requests, round robin on
ties, a port that failed a connect cooling down, only the route's ports ever chosen."""

from __future__ import annotations

from collections import Counter

from hostd.router.balance import Balancer

A, B, C = 5001, 5002, 5003


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def balancer(load: dict[int, int] | None = None, clock: Clock | None = None) -> Balancer:
    loads = load if load is not None else {}
    return Balancer(lambda port: loads.get(port, 0), cooldown_s=2.0, clock=clock or Clock())


def test_ties_go_round_robin() -> None:
    b = balancer()
    chosen = [b.choose("p", (A, B, C)) for _ in range(9)]
    assert chosen == [A, B, C] * 3


def test_round_robin_is_per_project() -> None:
    b = balancer()
    assert [b.choose("p", (A, B)), b.choose("q", (A, B)), b.choose("p", (A, B))] == [A, A, B]


def test_the_least_loaded_port_wins() -> None:
    load = {A: 3, B: 1, C: 2}
    b = balancer(load)
    assert [b.choose("p", (A, B, C)) for _ in range(3)] == [B, B, B]
    load[B] = 5
    assert b.choose("p", (A, B, C)) == C


def test_a_slow_port_gets_fewer_as_its_requests_pile_up() -> None:
    """Requests stay open on A (slow); B and C answer at once: A gets one, then none."""
    load: dict[int, int] = {}
    b = balancer(load)
    got: Counter[int] = Counter()
    for _ in range(30):
        port = b.choose("p", (A, B, C))
        assert port is not None
        got[port] += 1
        if port == A:
            load[A] = load.get(A, 0) + 1  # never answered during the burst
    assert got[A] == 1 and got[B] + got[C] == 29


def test_a_failed_port_cools_down_then_comes_back() -> None:
    clock = Clock()
    b = balancer(clock=clock)
    b.failed(A)
    assert b.cooling(A)
    assert {b.choose("p", (A, B, C)) for _ in range(10)} == {B, C}
    clock.now += 2.5
    assert not b.cooling(A)
    assert A in {b.choose("p", (A, B, C)) for _ in range(3)}


def test_a_success_ends_the_cooldown() -> None:
    b = balancer()
    b.failed(A)
    b.succeeded(A)
    assert not b.cooling(A)


def test_when_every_port_cools_they_are_tried_anyway() -> None:
    b = balancer()
    for port in (A, B):
        b.failed(port)
    assert b.choose("p", (A, B)) in (A, B)
    assert b.choose("p", (A,)) == A  # one replica: each request tries it, as before


def test_tried_ports_are_never_chosen_again() -> None:
    b = balancer()
    assert b.choose("p", (A, B, C), tried={A, B}) == C
    assert b.choose("p", (A, B, C), tried={A, B, C}) is None
    assert b.choose("p", (A,), tried={A}) is None
    assert b.choose("p", (), tried=set()) is None


def test_a_cooling_port_is_still_tried_after_the_others_failed() -> None:
    """One request, three replicas: B cools from an earlier failure, A and C refuse now —
    B is the last chance, not a failed request."""
    b = balancer()
    b.failed(B)
    tried: set[int] = set()
    order = []
    while (port := b.choose("p", (A, B, C), tried)) is not None:
        order.append(port)
        tried.add(port)
        if port != B:
            b.failed(port)
    assert order[-1] == B and sorted(order) == [A, B, C]


def test_only_the_routes_ports_are_chosen() -> None:
    """A retired replica (C) is no longer in the route: even idle, it gets nothing."""
    load = {A: 4, B: 4, C: 0}
    b = balancer(load)
    assert {b.choose("p", (A, B)) for _ in range(6)} == {A, B}


def test_the_cooling_memory_is_bounded() -> None:
    clock = Clock()
    b = balancer(clock=clock)
    for port in range(1, 3000):
        b.failed(port)
        clock.now += 0.01
    assert len(b._cooling) <= 1024

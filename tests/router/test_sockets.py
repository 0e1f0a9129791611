"""The router's one bind helper: a taken port is one clear error; SO_REUSEPORT shares."""

from __future__ import annotations

import socket

import pytest

from hostd.router.sockets import bind_listener
from tests.support import free_port


def test_a_taken_port_is_a_clear_error_naming_the_setting() -> None:
    port = free_port()
    expected = rf"cannot listen on 127\.0\.0\.1:{port}: .*; set HOSTD_ROUTER_PORT"
    with bind_listener("127.0.0.1", port, reuse_port=False, backlog=16), \
            pytest.raises(RuntimeError, match=expected):
        bind_listener("127.0.0.1", port, reuse_port=False, backlog=16)


def test_reuse_port_lets_a_group_share_the_port_and_each_accepts() -> None:
    port = free_port()
    first = bind_listener("127.0.0.1", port, reuse_port=True, backlog=16)
    second = bind_listener("127.0.0.1", port, reuse_port=True, backlog=16)
    with first, second:
        assert first.getsockname() == second.getsockname() == ("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # listening already: the kernel queued it on one of the two

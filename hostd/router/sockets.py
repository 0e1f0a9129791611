"""The router's listening sockets, bound in one place.

Bound by the daemon before anything serves, so a taken port stops start-up with one
clear error instead of a worker dying later: in the daemon's event loop
(`hostd.router.serve`, HOSTD_ROUTER_WORKERS=1) one socket, for the worker processes
(`hostd.router.pool`) one per worker in an SO_REUSEPORT group.
"""

from __future__ import annotations

import socket


def bind_listener(host: str, port: int, *, reuse_port: bool, backlog: int) -> socket.socket:
    """A TCP socket listening on `host`:`port` (IPv6 when `host` has a colon).

    SO_REUSEADDR always; SO_REUSEPORT with `reuse_port`, so that several sockets share
    the port and the kernel spreads new connections across them. RuntimeError naming
    the address and HOSTD_ROUTER_PORT when it can't be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"the router cannot listen on {host}:{port}: {exc.strerror}; "
                           "set HOSTD_ROUTER_PORT") from None
    return sock

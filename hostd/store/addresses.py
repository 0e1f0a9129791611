"""Which addresses a clone may reach (no SSRF), and host name resolution with a bound.

A repository URL comes from anyone with an account; hostd runs as root next to the
operator's network, so git may only talk to public addresses unless the operator says
otherwise (HOSTD_ALLOW_PRIVATE_REPOS).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address

RESOLVE_TIMEOUT_S = 3.0
# Lookups that outlive their wait keep a thread until the resolver gives up: cap them.
_MAX_PENDING_LOOKUPS = 16
_pending = threading.BoundedSemaphore(_MAX_PENDING_LOOKUPS)

# Spelled out rather than trusting is_private/is_global alone: their ranges changed
# between Python releases, and is_global is True for multicast.
_CLASSES: tuple[tuple[str, tuple[IPv4Network | IPv6Network, ...]], ...] = (
    ("unspecified", (IPv4Network("0.0.0.0/8"), IPv6Network("::/128"))),
    ("loopback", (IPv4Network("127.0.0.0/8"), IPv6Network("::1/128"))),
    ("link-local", (IPv4Network("169.254.0.0/16"), IPv6Network("fe80::/10"))),
    ("multicast", (IPv4Network("224.0.0.0/4"), IPv6Network("ff00::/8"))),
    ("shared (CGNAT)", (IPv4Network("100.64.0.0/10"),)),
    ("private", (IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12"),
                 IPv4Network("192.168.0.0/16"), IPv6Network("fc00::/7"),
                 IPv6Network("fec0::/10"))),
    ("reserved", (IPv4Network("240.0.0.0/4"), IPv4Network("192.0.0.0/24"),
                  IPv4Network("198.18.0.0/15"))),
)
# IPv6 forms that carry an IPv4 address a gateway would reach for us.
_NAT64 = IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = IPv6Network("::/96")


class AddressRefused(Exception):
    """The host is (or resolves to) an address hostd must not clone from."""


def embedded_v4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address inside a mapped, compatible, NAT64, 6to4 or Teredo address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _V4_COMPATIBLE and int(ip) > 1):
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def refusal(ip: IPAddress) -> str | None:
    """The class that forbids `ip` ("loopback", "private", …), or None for a public one."""
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket
            return refusal(ip.ipv4_mapped)
        inner = embedded_v4(ip)
        if inner is not None and (reason := refusal(inner)) is not None:
            return reason
    for name, networks in _CLASSES:
        if any(ip.version == net.version and ip in net for net in networks):
            return name
    if ip.is_reserved or ip.is_private or not ip.is_global:
        return "reserved"
    return None


def is_public(ip: IPAddress) -> bool:
    return refusal(ip) is None


def literal(host: str) -> IPAddress | None:
    """`host` as an IP address (`[::1]` included), or None when it is a name."""
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def resolve(host: str, port: int, timeout_s: float = RESOLVE_TIMEOUT_S) -> list[IPAddress]:
    """Every address `host` resolves to, or [] when it does not resolve within `timeout_s`.

    getaddrinfo cannot be cancelled, so it runs in a daemon thread that we stop waiting
    for; callers are sync code (never the event loop)."""
    if not _pending.acquire(blocking=False):
        return []  # too many lookups stuck already: treat as "does not resolve"
    found: list[IPAddress] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.extend(ipaddress.ip_address(info[4][0]) for info in infos)
        except (OSError, UnicodeError, ValueError):
            pass  # does not resolve: the caller decides what that means
        finally:
            _pending.release()
            done.set()

    threading.Thread(target=lookup, name="hostd-resolve", daemon=True).start()
    if not done.wait(timeout_s):
        return []
    return list(dict.fromkeys(found))


def checked_address(host: str, port: int,
                    timeout_s: float = RESOLVE_TIMEOUT_S) -> IPAddress | None:
    """A public address of `host` to connect to; None when it does not resolve.

    Raises AddressRefused when the host is, or any of its addresses is, not public: one
    private answer is enough, since the connection may pick any of them."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        raise AddressRefused("loopback")  # RFC 6761: always this machine, whatever DNS says
    ip = literal(host)
    addresses = [ip] if ip is not None else resolve(host, port, timeout_s)
    for address in addresses:
        if (reason := refusal(address)) is not None:
            raise AddressRefused(reason)
    return addresses[0] if addresses else None

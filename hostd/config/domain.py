"""The world-facing router's settings (#28): the address it binds and the apps domain.

HOSTD_ROUTER_HOST is an IP address literal: a host name would bind whatever it resolves
to at start, and the listener's exposure must be what the operator wrote.
HOSTD_APPS_DOMAIN is a DNS name of two labels or more, kept in its ASCII (punycode) form,
the form Host headers carry; `localhost` and the names under it are hostd's own.
"""

from __future__ import annotations

import ipaddress
import re

# One LDH label (RFC 1123): the IDNA codec alone lets `_` and leading hyphens through.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
DOMAIN_MAX = 253 - 2 * 64  # room for `<project>.<handle>.` in front


def router_address(value: str) -> str:
    """An IP address literal, as Python prints it (`0.0.0.0`, `::1`)."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address: give the address the router "
                         "binds, like 127.0.0.1 (loopback) or 0.0.0.0 (every interface)"
                         ) from None


def apps_domain(value: str) -> str:
    """`Apps.Example.COM.` → `apps.example.com`; ValueError for anything but a DNS name
    of two labels or more (no wildcard, no IP address, not localhost)."""
    name = value.strip().lower().removesuffix(".")
    if "*" in name:
        raise ValueError("give the domain itself, like apps.example.com, not a wildcard")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise ValueError(f"{value!r} is an IP address, not a domain")
    if name == "localhost" or name.endswith(".localhost"):
        raise ValueError("names under localhost are hostd's own already: leave it unset")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{value[:100]!r} is not a DNS name") from None
    labels = ascii_name.split(".")
    if (len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels)
            or labels[-1].isdigit()):
        raise ValueError(f"{value[:100]!r} is not a DNS name of two labels or more "
                         "(like apps.example.com)")
    if len(ascii_name) > DOMAIN_MAX:
        raise ValueError(f"must be at most {DOMAIN_MAX} characters")
    return ascii_name


def under(name: str, domain: str | None) -> bool:
    """Whether `name` (lower-case, no port) is `domain` or a name under it."""
    return domain is not None and (name == domain or name.endswith("." + domain))

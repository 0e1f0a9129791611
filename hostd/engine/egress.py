"""What app containers may not reach: the link-local range (a cloud VM's metadata
service, 169.254.169.254) and the host itself (its bridge gateway addresses, and with
them every service on the host that listens beyond loopback).

Two iptables rules match every user network's interface (`hdu+`, hostd.engine.usernet):
one in DOCKER-USER (the engine's chain for forwarded traffic that it never rewrites)
drops what goes to 169.254.0.0/16, one in INPUT drops new connections from an app to the
host. Replies to the router's connections (which the host starts) still flow. Outbound
traffic to anywhere else goes out as on any bridge. `HOSTD_EGRESS=open` leaves them out.
Nothing here takes input: every argument is a constant.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from hostd.engine.usernet import INTERFACE_PREFIX

log = logging.getLogger("hostd.engine")
APP_INTERFACES = INTERFACE_PREFIX + "+"
METADATA_RANGE = "169.254.0.0/16"
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DOCKER-USER", ("-i", APP_INTERFACES, "-d", METADATA_RANGE, "-j", "DROP")),
    ("INPUT", ("-i", APP_INTERFACES, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP")),
)
TIMEOUT_S = 10


class EgressError(Exception):
    """The rules could not be put in place (no iptables, not root)."""


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("iptables")
    if binary is None:
        raise EgressError("iptables is not installed (apt install iptables)")
    # -w: wait for the xtables lock the engine may hold.
    return subprocess.run([binary, "-w", "5", *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)


def ensure_filtered() -> None:
    """Put the rules in place, once each (idempotent: -C checks before -I inserts)."""
    for chain, rule in RULES:
        if _iptables("-C", chain, *rule).returncode == 0:
            continue
        done = _iptables("-I", chain, "1", *rule)
        if done.returncode != 0:
            raise EgressError(f"iptables -I {chain} failed: {done.stderr.strip()[:300]}")
        log.info("egress: %s drops %s", chain, " ".join(rule))


def rules_in_place() -> bool:
    try:
        return all(_iptables("-C", chain, *rule).returncode == 0 for chain, rule in RULES)
    except EgressError:
        return False

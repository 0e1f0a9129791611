"""The open-files limit of a process that proxies connections.

Each proxied request holds two sockets (client and app) and SSE subscribers one each;
Debian's default soft limit of 1024 would make the router refuse connections long before
the machine is busy. The soft limit is raised to the hard one, as nginx's
`worker_rlimit_nofile` would; nothing is raised beyond what the administrator allows.
"""

from __future__ import annotations

import resource

WANTED = 65536


def raise_open_files_limit(wanted: int = WANTED) -> int:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (capped by the hard limit); the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft

"""One change of a project at a time.

A config change, a restart, a rollback (hostd.control.replace) and a deploy's switch
(hostd.control.steps) each read the project's config vars, replace its container and
make its next release. Two at once would each retire the other's container and take the
same release number, so each holds the project's lock for the whole of it.
"""

from __future__ import annotations

import threading
from collections import defaultdict


class ChangeLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        # Re-entrant: a caller holding it (hostd.control.lifecycle) replaces under it.
        self._locks: defaultdict[str, threading.RLock] = defaultdict(threading.RLock)

    def of(self, project_id: str) -> threading.RLock:
        with self._guard:  # defaultdict's insert is not atomic across threads
            return self._locks[project_id]

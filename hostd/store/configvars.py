"""Config vars: a project's environment variables, stored by hostd, given to its container.

Names are shell-style identifiers; `PORT` (hostd sets it) and `HOSTD_*` are reserved.
Values are text up to 32 KiB without NUL (the engine passes them as C strings), at most
100 variables a project. The container carries a fingerprint of the set it was created
with (label `hostd.env`), so a start after a change knows its container is stale.
Values are secrets: they are never logged, never in events or the project list, and only
the project's owner reads them back.
"""

from __future__ import annotations

import hashlib
import json
import re

from sqlmodel import Session, col, delete, select

from hostd.errors import ValidationError
from hostd.store.models import ProjectEnv

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
RESERVED = frozenset({"PORT"})
RESERVED_PREFIX = "HOSTD_"
MAX_VARS = 100
MAX_VALUE = 32 * 1024
ENV_LABEL = "hostd.env"


def load(session: Session, project_id: str) -> dict[str, str]:
    rows = session.exec(select(ProjectEnv).where(ProjectEnv.project_id == project_id))
    return {row.name: row.value for row in sorted(rows, key=lambda r: r.name)}


def check(changes: dict[str, str | None], current: dict[str, str]) -> dict[str, str]:
    """The variables after `changes`; ValidationError naming the first problem."""
    for name, value in changes.items():
        if not NAME.fullmatch(name):
            raise ValidationError(f"{name[:40]!r} is not a valid variable name: letters, "
                                  "digits and _, not starting with a digit, at most 128")
        if name in RESERVED or name.startswith(RESERVED_PREFIX):
            raise ValidationError(f"{name} is set by hostd and cannot be changed")
        if value is not None and (len(value) > MAX_VALUE or "\x00" in value):
            raise ValidationError(f"the value of {name} must be text of at most 32 KiB "
                                  "without NUL characters")
    after = {**current, **{n: v for n, v in changes.items() if v is not None}}
    for name, value in changes.items():
        if value is None:
            after.pop(name, None)
    if len(after) > MAX_VARS:
        raise ValidationError(f"a project has at most {MAX_VARS} config vars")
    return dict(sorted(after.items()))


def store(session: Session, project_id: str, env: dict[str, str]) -> None:
    """Replace the project's variables with `env` (the caller commits)."""
    session.exec(delete(ProjectEnv).where(col(ProjectEnv.project_id) == project_id))
    session.add_all(ProjectEnv(project_id=project_id, name=n, value=v) for n, v in env.items())


def fingerprint(env: dict[str, str]) -> str:
    text = json.dumps(sorted(env.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def summary(changes: dict[str, str | None], before: dict[str, str]) -> str:
    set_count = sum(1 for n, v in changes.items() if v is not None and before.get(n) != v)
    removed = sum(1 for n, v in changes.items() if v is None and n in before)
    return f"set {set_count} and removed {removed} config var(s)"

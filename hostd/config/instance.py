"""The install's own instance id, kept in its data dir: the label its engine objects carry."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from pathlib import Path

INSTANCE_FILE_NAME = "instance-id"
# The label every install used before it kept an id of its own: an install upgraded from
# then adopts it, so the containers it made stay its own.
LEGACY_INSTANCE = "default"
INSTANCE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"  # a DNS label: names a network too


class InstanceFileError(ValueError):
    """The data dir's instance id file holds something that is not an instance id."""


def install_instance(data_dir: Path, existing_database: bool) -> str:
    """The install's own instance label, kept in `<data_dir>/instance-id`.

    Read when the file exists; else decided once and written: `default` when the database
    was made before installs kept an id (its containers carry that label), a new random
    `i-<12 hex>` for a fresh install, so two installs on one engine never share a label by
    default. Written whole to a temporary file and linked into place: a reader never sees
    half an id, and of two daemons starting on one data dir at once the first one wins.
    """
    path = data_dir / INSTANCE_FILE_NAME
    if not path.exists():
        chosen = LEGACY_INSTANCE if existing_database else f"i-{secrets.token_hex(6)}"
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".instance-id.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(chosen + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)  # a label on the engine for all to see: not a secret
            # Another daemon on this data dir may have been first: its id is the install's.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    value = path.read_text().strip()
    if not re.match(INSTANCE_PATTERN, value):
        raise InstanceFileError(
            f"{path} does not hold an instance id (a DNS label such as i-0123456789ab); "
            "restore it, or set HOSTD_INSTANCE to the label this install's containers carry")
    return value

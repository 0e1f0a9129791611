"""Token storage: the OS keyring, a clearly-warned 0600 file where none exists, or HOSTCTL_TOKEN.

One keyring entry per API URL under the service `hostctl`. Reading order: HOSTCTL_TOKEN
(CI), then the fallback file (it only has an entry when login found no keyring), then the
keyring. Looking at the file first means a headless machine never imports keyring, whose
backend discovery is the slowest part of start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from hostctl.config import ensure_private_dir

SERVICE = "hostctl"
TOKEN_FILE_NAME = "tokens.json"  # noqa: S105 - a file name
TOKEN_ENV = "HOSTCTL_TOKEN"  # noqa: S105 - the variable's name, not a token


class TokenStore:
    def __init__(
        self,
        directory: Path,
        api_url: str,
        *,
        warn: Callable[[str], None],
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.directory = directory
        self.api_url = api_url
        self._warn = warn
        self._environ = environ

    @property
    def file_path(self) -> Path:
        return self.directory / TOKEN_FILE_NAME

    def get(self) -> str | None:
        if token := self._environ.get(TOKEN_ENV):
            return token
        if token := self._read_file().get(self.api_url):
            return token
        return _keyring_get(self.api_url)

    def save(self, token: str) -> str:
        """Store the token; returns where it went ("keyring" or the file path)."""
        if _keyring_set(self.api_url, token):
            self._drop_from_file()
            return "keyring"
        tokens = self._read_file()
        tokens[self.api_url] = token
        self._write_file(tokens)
        self._warn(
            f"no OS keyring available: token stored in {self.file_path} (mode 0600)"
        )
        return str(self.file_path)

    def delete(self) -> None:
        self._drop_from_file()
        _keyring_delete(self.api_url)

    # --- the fallback file ----------------------------------------------------------

    def _read_file(self) -> dict[str, str]:
        try:
            data = json.loads(self.file_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_file(self, tokens: dict[str, str]) -> None:
        ensure_private_dir(self.directory)
        temp = self.file_path.with_suffix(".tmp")
        temp.unlink(missing_ok=True)
        # Created 0600 from the start: the token is never readable by others, even briefly.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(tokens, handle)
        os.replace(temp, self.file_path)

    def _drop_from_file(self) -> None:
        tokens = self._read_file()
        if self.api_url in tokens:
            del tokens[self.api_url]
            if tokens:
                self._write_file(tokens)
            else:
                self.file_path.unlink(missing_ok=True)


# --- the keyring, imported only when needed --------------------------------------------

def _keyring_get(api_url: str) -> str | None:
    import keyring
    from keyring.errors import KeyringError

    try:
        return keyring.get_password(SERVICE, api_url)
    except KeyringError:
        return None


def _keyring_set(api_url: str, token: str) -> bool:
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(SERVICE, api_url, token)
    except KeyringError:  # NoKeyringError on a headless machine, or a locked keyring
        return False
    return True


def _keyring_delete(api_url: str) -> None:
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    # Nothing stored there (or no keyring at all) is fine: the token is gone either way.
    with contextlib.suppress(PasswordDeleteError, KeyringError):
        keyring.delete_password(SERVICE, api_url)

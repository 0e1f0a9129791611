"""The one context object every command receives, built in the root callback.

It holds the consoles, the config dir, the API URL and the token store; heavy parts
(rich, httpx, keyring) are created on first use so `--help` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from hostctl.config import config_dir, resolve_api_url
from hostctl.errors import NotLoggedIn

if TYPE_CHECKING:
    from rich.console import Console

    from hostctl.client import HostdClient
    from hostctl.credentials import TokenStore


PIPE_WIDTH = 1000


@dataclass
class AppContext:
    api_url_flag: str | None = None
    debug: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _clients: list[HostdClient] = field(default_factory=list)

    @cached_property
    def config_dir(self) -> Path:
        return config_dir(self.environ)

    @cached_property
    def api_url(self) -> str:
        return resolve_api_url(self.api_url_flag, self.config_dir, self.environ)

    # emoji=False: hostctl writes no emoji codes, and text from the daemon (names,
    # messages) must print as sent; it also skips loading rich's emoji table (~2 ms).
    @cached_property
    def out(self) -> Console:
        from rich.console import Console

        console = Console(highlight=False, emoji=False)
        if self._piped(console):
            # Piped output goes to grep, files and pagers: never fold a line (a URL) at
            # rich's default of 80 columns. Tables take their natural width.
            console.width = PIPE_WIDTH
        return console

    @property
    def piped(self) -> bool:
        """True when stdout gets no terminal width: renderers may widen past PIPE_WIDTH."""
        return self._piped(self.out)

    def _piped(self, console: Console) -> bool:
        return not console.is_terminal and "COLUMNS" not in self.environ

    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False, emoji=False)

    @cached_property
    def tokens(self) -> TokenStore:
        from hostctl.credentials import TokenStore

        return TokenStore(self.config_dir, self.api_url, warn=self.warn, environ=self.environ)

    def warn(self, message: str) -> None:
        self.err.print(f"hostctl: {message}", style="yellow", markup=False, soft_wrap=True)

    def client(self, *, authenticated: bool = True) -> HostdClient:
        """A client for the API URL; with `authenticated`, a stored token is required."""
        from hostctl.client import HostdClient

        token = self.tokens.get() if authenticated else None
        if authenticated and not token:
            raise NotLoggedIn(self.api_url)
        client = HostdClient(self.api_url, token)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

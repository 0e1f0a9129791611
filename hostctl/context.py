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
from typing import TYPE_CHECKING, Any

from hostctl.config import config_dir, resolve_api_url
from hostctl.errors import NotLoggedIn

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

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

    def show(self, renderable: RenderableType) -> None:
        """Print a table: piped, at its natural width however wide (a 32 KiB value stays one
        line) and without padding every row to the longest; on a terminal, as rich fits it."""
        if self._piped(self.out):
            from hostctl.output import print_unfolded

            print_unfolded(self.out, renderable)
        else:
            self.out.print(renderable)

    def reply(self, json_output: bool, payload: Mapping[str, Any], message: str) -> None:
        """A command's answer: `payload` as JSON with --json, else `message` as plain text."""
        if json_output:
            from hostctl.output import write_json

            write_json(payload)
        else:
            from hostctl.output import terminal_safe

            self.out.print(terminal_safe(message), markup=False)

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
        from hostctl.output import terminal_safe

        self.err.print(f"hostctl: {terminal_safe(message)}", style="yellow", markup=False,
                       soft_wrap=True)

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

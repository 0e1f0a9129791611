"""Build logs: one append-only file per deployment in the data directory."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path

LINE_MAX = 4000


class BuildLog:
    """Thread-safe appender; each line is flushed so followers see it at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        text = line.rstrip("\n")[:LINE_MAX].replace("\n", " ")
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")

    def step(self, name: str, detail: str = "") -> None:
        self(f"==> {name}{': ' + detail if detail else ''}")


def project_dir(data_dir: Path, project_id: str) -> Path:
    """A project's build logs (and the record of its build stage images)."""
    return data_dir / "builds" / project_id


def log_path(data_dir: Path, project_id: str, deployment_id: str) -> Path:
    return project_dir(data_dir, project_id) / f"{deployment_id}.log"


def tail(path: Path, lines: int) -> list[str]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]


class FileFollower:
    """New complete lines appended to a file since the last poll (non-blocking)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.is_file() else 0
        self.pending = ""

    def poll(self) -> list[str]:
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
            self.offset = handle.tell()
        *complete, self.pending = (self.pending + chunk).split("\n")
        return complete

    def rest(self) -> list[str]:
        """What is left once the writer is done: a last line without a newline."""
        lines = self.poll()
        if self.pending:
            lines.append(self.pending)
            self.pending = ""
        return lines

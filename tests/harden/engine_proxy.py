"""A unix-socket proxy in front of the real Docker engine that a test can cut and restore.

The daemon under test talks to the engine only through it (DOCKER_HOST), so cutting it
is, for that daemon, exactly an engine that went away: new connections are refused
(the socket file is gone) and open ones, the event stream included, are closed. The
shared engine itself is never touched.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

ENGINE_SOCKET = "/var/run/docker.sock"
CHUNK = 65536


class EngineProxy:
    def __init__(self, path: Path, upstream: str = ENGINE_SOCKET) -> None:
        self.path = path
        self.upstream = upstream
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def restore(self) -> None:
        """Listen (again): the engine is back."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """The engine is gone: refuse new connections, drop the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self.path.unlink(missing_ok=True)
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                engine.connect(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, engine))
            threading.Thread(target=self._pump, args=(client, engine), daemon=True).start()
            threading.Thread(target=self._pump, args=(engine, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

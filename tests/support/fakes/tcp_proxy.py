"""A TCP proxy on 127.0.0.1 in front of a real server, to "restart" it without touching it.

Connections are forwarded byte for byte. `cut_after(n)` arms a cut: once `n` more bytes went
from clients to the server, every open connection is reset, as when PostgreSQL restarts
(the server rolls back what was in flight), and new connections are refused (closed at
once) until `restore()`. The shared test server itself is never stopped.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from contextlib import suppress


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._listener.settimeout(0.2)  # accept() wakes up to see stop()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._down = False
        self._budget: int | None = None  # bytes to client->server before the cut
        self.cuts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self.cut()

    # --- faults -----------------------------------------------------------------------------

    def cut_after(self, client_bytes: int) -> None:
        with self._lock:
            self._budget = client_bytes

    def cut(self) -> None:
        """Reset every open connection now and refuse new ones until `restore()`."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
            self._down = True
            self._budget = None
            self.cuts += 1
        for pair in pairs:
            for end in pair:
                _reset(end)

    def restore(self) -> None:
        with self._lock:
            self._down = False

    # --- forwarding -------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue  # look at the stop flag again
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                down = self._down
            if down:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        # A selector, not select(): a test process may hold more than 1024 descriptors.
        watch = selectors.DefaultSelector()
        watch.register(client, selectors.EVENT_READ)
        watch.register(server, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in watch.select(timeout=1.0):
                    source = key.fileobj
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client and self._spend(len(data)):
                        self.cut()
                        return
                    (server if source is client else client).sendall(data)
        except (OSError, ValueError):  # reset by cut() meanwhile
            return
        finally:
            watch.close()
            with self._lock:
                if (client, server) in self._pairs:
                    self._pairs.remove((client, server))
            _reset(client)
            _reset(server)

    def _spend(self, size: int) -> bool:
        """Count client bytes against an armed cut; True when the cut is due."""
        with self._lock:
            if self._budget is None:
                return False
            self._budget -= size
            return self._budget <= 0


def _reset(end: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer sees the connection die, not a polite close."""
    with suppress(OSError):
        end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with suppress(OSError):
        end.close()

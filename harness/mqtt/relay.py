"""A TCP relay between the DUT and the lab's broker, so the harness owns the DUT's connection.

A broker the harness runs itself can drop one client (the will case, V2X-001) and stop and
start (V2X-008). A lab's broker usually cannot, and the harness must not need its admin
commands. So the bench may name a relay address (``mqtt.relay``): during the run the harness
listens there and relays every connection the part opens, byte for byte (TLS passes through
untouched), to the bench's broker. The part is configured with the relay's address instead of
the broker's. Then

* :meth:`TcpRelay.cut` closes every relayed connection at once, on both sides: the broker
  sees the part's connection end without a DISCONNECT and publishes its will, the part sees
  its connection closed and reconnects (through the relay again);
* :meth:`TcpRelay.down` cuts and stops listening, so the part's reconnects are refused
  (``broker: stop``), and :meth:`TcpRelay.up` listens again (``broker: start``): to the part
  this is a broker outage, whatever broker the lab runs.

The relay works in threads (an accept loop and two pumps per connection), never on the
harness's loop, so relaying never waits for a step and a step never waits for relaying.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

from harness.errors import BenchError

__all__ = ["TcpRelay"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
ACCEPT_POLL = 0.1
CHUNK = 65536
BIND_RETRY = 2.0  # seconds to retry binding the port again after down() (TIME_WAIT, races)


class TcpRelay:
    """Listen on ``listen`` and relay each connection to ``upstream``; a context manager."""

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int]) -> None:
        self.listen = listen
        self.upstream = upstream
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        self.accepted = 0  # connections relayed so far (for tests and the record)
        self.cuts = 0

    @property
    def label(self) -> str:
        return f"relay {self.listen[0]}:{self.listen[1]} -> {self.upstream[0]}:{self.upstream[1]}"

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> TcpRelay:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self.down()

    @property
    def listening(self) -> bool:
        return self._server is not None

    def up(self) -> None:
        """Listen (again); an address that cannot be bound is the bench's mistake."""
        with self._lock:
            if self._server is not None:
                return
            self._server = self._bind()
            self._thread = threading.Thread(
                target=self._accept_loop, args=(self._server,), name="mqtt-relay", daemon=True
            )
            self._thread.start()

    def _bind(self) -> socket.socket:
        deadline = time.monotonic() + BIND_RETRY
        while True:
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                server.bind(self.listen)
                server.listen(16)
                server.settimeout(ACCEPT_POLL)
                return server
            except OSError as exc:
                server.close()
                if time.monotonic() >= deadline:
                    raise BenchError(
                        f"mqtt.relay: cannot listen on {self.listen[0]}:{self.listen[1]}: {exc}",
                        expected="a free local address and port for the part to connect to",
                    ) from None
                time.sleep(0.05)

    def down(self) -> None:
        """Cut every connection and stop listening: the part's reconnects are refused."""
        with self._lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
        if server is not None:
            server.close()
        if thread is not None:
            thread.join(timeout=2)
        self.cut()

    def cut(self) -> int:
        """Close every relayed connection on both sides; returns how many were open."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        if pairs:
            self.cuts += 1
        return len(pairs)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # -- relaying (threads) ------------------------------------------------------------------
    def _accept_loop(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by down()
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=CONNECT_TIMEOUT)
            except OSError as exc:
                log.warning("relay: cannot reach the broker %s:%s: %s", *self.upstream, exc)
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._server is not server:  # went down meanwhile
                    client.close()
                    upstream.close()
                    return
                self._pairs.append((client, upstream))
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(src, dst), name="mqtt-relay-pump", daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        # one side ended: end the other too, as a broker or client closing would
        with self._lock:
            self._pairs = [p for p in self._pairs if src not in p]
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

"""The embedded MQTT broker: amqtt on a free loopback port, in its own thread.

:class:`EmbeddedBroker` is a context manager: it starts an amqtt broker bound to
``127.0.0.1`` on a port nobody uses (never amqtt's default ``0.0.0.0:1883``), with only the
anonymous-login plugin (amqtt's default plugins cost about 40 % of its throughput), runs it on
an asyncio loop in a background thread, and shuts it down on exit. :meth:`stop` and
:meth:`start` take it away and bring it back on the same port during a run, as a broker
restart does (V2X-008): clients lose their connections and retained messages are gone.

amqtt speaks MQTT 3.1.1 only; MQTT 5 needs an external broker (Mosquitto).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Coroutine
from typing import Any

from harness.errors import InterfaceError

__all__ = ["EmbeddedBroker", "free_tcp_port"]

log = logging.getLogger(__name__)

_PLUGINS = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
_QUIET = ("amqtt", "transitions")


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedBroker:
    """amqtt on ``127.0.0.1:<free port>``; use as a context manager."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self.running = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> EmbeddedBroker:
        for name in _QUIET:  # amqtt logs every connection at INFO and a restart at WARNING
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="embedded-mqtt-broker", daemon=True
        )
        self._thread.start()
        try:
            for attempt in range(5):
                if not self.port or attempt:
                    self.port = free_tcp_port(self.host)
                try:
                    self.start()
                    break
                except InterfaceError:
                    if attempt == 4:
                        raise
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._loop is not None and not self._loop.is_running():
            self._loop.close()
        self._loop = None

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": dict(_PLUGINS),
        }
        self._broker = Broker(config)
        await self._broker.start()

    async def _stop(self) -> None:
        broker = self._broker
        self._broker = None
        if broker is None:
            return
        # Cut every client connection the way a dying broker does, then close the listener.
        for _, handler in list(broker._sessions.values()):
            _abort(handler)
        await broker.shutdown()

    def start(self) -> None:
        """Bring the broker (back) up on its port; InterfaceError when it cannot bind."""
        if self.running:
            return
        try:
            self._run(self._start())
        except Exception as exc:
            self._broker = None
            raise InterfaceError(
                f"cannot start the embedded MQTT broker on {self.address}: {exc}"
            ) from None
        self.running = True
        log.debug("embedded broker up on %s", self.address)

    def stop(self) -> None:
        """Take the broker down: every connection is cut, retained messages are lost."""
        if not self.running:
            return
        self.running = False
        self._run(self._stop())
        log.debug("embedded broker down on %s", self.address)

    def kick(self, client_id: str) -> bool:
        """Cut one client's connection without a DISCONNECT (the broker publishes its will).

        False when no such client is connected.
        """
        if not self.running:
            return False

        async def cut() -> bool:
            entry = self._broker._sessions.get(client_id) if self._broker else None
            return entry is not None and _abort(entry[1])

        return bool(self._run(cut()))


def _abort(handler: Any) -> bool:
    """Abort the TCP connection behind an amqtt protocol handler (no clean close)."""
    writer = getattr(handler, "writer", None)
    transport = getattr(getattr(writer, "_writer", None), "transport", None)
    if transport is None:
        return False
    transport.abort()
    return True

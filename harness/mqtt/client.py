"""The real MQTT client: paho-mqtt 2 (``CallbackAPIVersion.VERSION2``) on its own thread.

paho's network loop runs in a thread of ours, one connect attempt per request (reconnecting
is the owner's decision: the TCU has its own back-off, V2X-008). Every paho callback only
puts a tuple on a queue, with the message's arrival time taken at once on the wall clock
(the base of :class:`~harness.clock.RealClock`); the owner's event loop drains that queue in
an idle hook and calls its :class:`~harness.mqtt.transport.TransportHandler` on its own
thread. So observations are stamped when they arrived, not when Python got round to them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from harness.clock import EventLoop
from harness.mqtt.config import BrokerAddress
from harness.mqtt.transport import ClientOptions, TransportHandler

__all__ = ["PahoTransport"]

PUMP_INTERVAL = 0.001  # s: the longest a real-time loop with this client blocks between pumps

log = logging.getLogger(__name__)

_Event = tuple[Any, ...]


class _BufferedClient(paho.Client):
    """paho reads each packet a few bytes per ``recv()``; this one reads 64 KiB at a time and
    serves paho from that buffer (about a third less CPU per message at high rates)."""

    _rbuf = b""
    _rpos = 0
    _rsock: Any = None

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._sock is not self._rsock:  # a new connection: nothing buffered for it
            self._rsock, self._rbuf, self._rpos = self._sock, b"", 0
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(65536)
            if not data:
                return data
            self._rbuf, self._rpos = data, 0
        chunk = self._rbuf[self._rpos : self._rpos + bufsize]
        self._rpos += len(chunk)
        return chunk

    def buffered(self) -> bool:
        """Bytes already read from the socket wait here (select() would not see them)."""
        return self._rsock is self._sock and self._rpos < len(self._rbuf)


class PahoTransport:
    """A paho-mqtt client whose callbacks reach ``handler`` on ``loop``'s thread."""

    def __init__(
        self,
        loop: EventLoop,
        address: BrokerAddress,
        options: ClientOptions,
        handler: TransportHandler,
    ) -> None:
        self.loop = loop
        self.address = address
        self.options = options
        self.handler = handler
        self._events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self._requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._connected = False
        self._closing = False
        v5 = address.protocol == "5"
        client = _BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            clean_session=None if v5 else options.clean_session,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            reconnect_on_failure=False,
        )
        client.connect_timeout = 3.0
        if address.username is not None:
            client.username_pw_set(address.username, address.password)
        if address.tls:
            client.tls_set(
                ca_certs=address.ca,
                certfile=address.cert,
                keyfile=address.key,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            if address.insecure:
                client.tls_insecure_set(True)
        if options.will is not None:
            w = options.will
            client.will_set(w.topic, w.payload, w.qos, w.retain)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client
        self._thread = threading.Thread(
            target=self._run, name=f"mqtt-{options.client_id}", daemon=True
        )
        # paho writes a publish from another thread itself unless it knows a network thread
        # runs its loop: with ours named here it wakes our select() instead.
        client._thread = self._thread
        self._thread.start()
        loop.idle_hooks.append(self.pump)
        # pump() runs between turns of the loop: a message should wait ~1 ms, not 50
        loop.max_wait = min(loop.max_wait, PUMP_INTERVAL)

    # -- paho's thread -----------------------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        failed = bool(getattr(reason, "is_failure", False))
        self._events.put(("connect", not failed, str(reason)))

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._events.put(("lost", str(reason)))

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._events.put(("msg", time.time(), msg.topic, msg.payload, msg.qos, msg.retain))

    def _run(self) -> None:
        client = self.client
        addr = self.address
        while True:
            request = self._requests.get()
            if request == "stop":
                return
            if request != "connect":  # pragma: no cover - only these two are sent
                continue
            try:
                if addr.protocol == "5":
                    client.connect(addr.host, addr.port, self.options.keepalive, clean_start=True)
                else:
                    client.connect(addr.host, addr.port, self.options.keepalive)
            except (OSError, ssl.SSLError, ValueError) as exc:
                self._events.put(("connect", False, f"{type(exc).__name__}: {exc}"))
                continue
            _no_delay(client)
            while not self._closing:
                rc = client.loop(timeout=0.2)
                while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and client.buffered():
                    rc = client.loop_read()
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
            if self._closing:
                try:
                    client.disconnect()
                    client.loop(timeout=0.1)
                except (OSError, ValueError):
                    pass
                return

    # -- the owner's thread ------------------------------------------------------------------
    def pump(self) -> None:
        """Hand every queued event to the handler (called on the owner's loop)."""
        events = self._events
        handler = self.handler
        while True:
            try:
                ev = events.get_nowait()
            except queue.Empty:
                return
            kind = ev[0]
            if kind == "msg":
                handler.on_message(ev[1], ev[2], ev[3], ev[4], ev[5])
            elif kind == "connect":
                self._connected = bool(ev[1])
                handler.on_connect(bool(ev[1]), str(ev[2]))
            elif kind == "lost" and self._connected:
                self._connected = False
                handler.on_lost(str(ev[1]))

    @property
    def connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        """One connect attempt; the outcome comes as ``handler.on_connect``."""
        self._requests.put("connect")

    def disconnect(self) -> None:
        if self._connected:
            self.client.disconnect()

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> bool:
        if not self._connected:
            return False
        info = self.client.publish(topic, payload, qos, retain)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def subscribe(self, topic: str, qos: int = 0) -> None:
        self.client.subscribe(topic, qos)

    def close(self) -> None:
        """Disconnect cleanly (no will) and end the network thread."""
        self._closing = True
        self._requests.put("stop")
        if self._connected:
            with contextlib.suppress(OSError, ValueError):
                self.client.disconnect()
        self._thread.join(timeout=3)
        with contextlib.suppress(ValueError):
            self.loop.idle_hooks.remove(self.pump)
        self._connected = False


def _no_delay(client: paho.Client) -> None:
    """Switch Nagle's algorithm off: paho leaves it on, and a small publish then waits for
    the peer's delayed ACK (40 ms on Linux), which would show up in every latency measured
    over MQTT (a command's ack, a hazard event) as the transport's, not the part's."""
    sock = client.socket()
    setsockopt = getattr(sock, "setsockopt", None)
    if setsockopt is None:
        return
    with contextlib.suppress(OSError):  # not a TCP socket (a Unix socket, say): leave it
        setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

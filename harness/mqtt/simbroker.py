"""An in-process MQTT broker on the virtual clock, for the simulated mode.

:class:`SimBroker` does what a broker does for the parts of MQTT the profile uses: client ids
with take-over, clean sessions, subscriptions with ``+``/``#`` wildcards, QoS as the minimum
of publish and subscription, retained messages (delivered with the retain flag on
subscribe), last wills on a connection cut without DISCONNECT, and going away and coming
back (connections dropped, retained messages lost, connect attempts refused meanwhile).
Every delivery is a timer on the :class:`~harness.clock.EventLoop` a fixed latency later, so a
simulated run stays deterministic and much faster than real time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from paho.mqtt.client import topic_matches_sub as _topic_matches_sub

from harness.clock import EventLoop
from harness.mqtt.transport import ClientOptions, TransportHandler

__all__ = ["SimBroker", "SimTransport"]


@functools.lru_cache(maxsize=4096)
def topic_matches_sub(flt: str, topic: str) -> bool:
    """paho's matcher (which builds a tree for every call), remembered: a pure function of
    the two strings, asked for every message a simulated run routes."""
    return bool(_topic_matches_sub(flt, topic))


LATENCY = 0.0005  # seconds from a publish to its delivery


class SimTransport:
    """A client of :class:`SimBroker`, with the same interface as the paho transport."""

    def __init__(self, broker: SimBroker, options: ClientOptions, handler: TransportHandler):
        self.broker = broker
        self.options = options
        self.handler = handler
        self.subscriptions: dict[str, int] = {}
        self._connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        self.broker._connect(self)

    def disconnect(self) -> None:
        self.broker._disconnect(self, clean=True)

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> bool:
        if not self._connected:
            return False
        self.broker._publish(topic, bytes(payload), qos, retain)
        return True

    def subscribe(self, topic: str, qos: int = 0) -> None:
        if self._connected:
            self.broker._subscribe(self, topic, qos)

    def close(self) -> None:
        if self._connected:
            self.broker._disconnect(self, clean=True)


class SimBroker:
    """A broker on the event loop's clock; :meth:`stop`/:meth:`start` take it away and back."""

    embedded = True
    label = "simulated broker"

    def __init__(self, loop: EventLoop, latency: float = LATENCY) -> None:
        self.loop = loop
        self.latency = latency
        self.running = True
        self._clients: dict[str, SimTransport] = {}
        self._retained: dict[str, tuple[bytes, int]] = {}

    def client(self, options: ClientOptions, handler: TransportHandler) -> SimTransport:
        return SimTransport(self, options, handler)

    def _later(self, fn: Callable[[], None]) -> None:
        self.loop.call_later(self.latency, fn)

    # -- connections -------------------------------------------------------------------------
    def _connect(self, client: SimTransport) -> None:
        def accept() -> None:
            if not self.running:
                client.handler.on_connect(False, "connection refused")
                return
            old = self._clients.get(client.options.client_id)
            if old is not None and old is not client:
                self._drop(old, "session taken over", will=False)
            if client.options.clean_session:
                client.subscriptions.clear()
            self._clients[client.options.client_id] = client
            client._connected = True
            client.handler.on_connect(True, "Success")

        self._later(accept)

    def _drop(self, client: SimTransport, reason: str, *, will: bool) -> None:
        if self._clients.get(client.options.client_id) is client:
            del self._clients[client.options.client_id]
        if not client._connected:
            return
        client._connected = False
        w = client.options.will
        if will and w is not None and self.running:
            self._publish(w.topic, w.payload, w.qos, w.retain)
        self._later(lambda: client.handler.on_lost(reason))

    def _disconnect(self, client: SimTransport, *, clean: bool) -> None:
        if self._clients.get(client.options.client_id) is client:
            del self._clients[client.options.client_id]
        client._connected = False  # a clean DISCONNECT: no will, no callback

    def kick(self, client_id: str) -> bool:
        """Cut one client's connection without DISCONNECT: its will is published."""
        client = self._clients.get(client_id)
        if client is None:
            return False
        self._drop(client, "connection cut", will=True)
        return True

    def stop(self) -> None:
        """The broker goes away: every connection drops, retained messages are lost."""
        if not self.running:
            return
        self.running = False
        for client in list(self._clients.values()):
            self._drop(client, "broker went away", will=False)
        self._retained.clear()

    def start(self) -> None:
        self.running = True

    # -- messages ----------------------------------------------------------------------------
    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        def route() -> None:
            if not self.running:
                return
            if retain:
                if payload:
                    self._retained[topic] = (payload, qos)
                else:
                    self._retained.pop(topic, None)
            now = self.loop.now()
            for client in list(self._clients.values()):
                for flt, sub_qos in client.subscriptions.items():
                    if topic_matches_sub(flt, topic):
                        client.handler.on_message(now, topic, payload, min(qos, sub_qos), False)
                        break

        self._later(route)

    def _subscribe(self, client: SimTransport, flt: str, qos: int) -> None:
        client.subscriptions[flt] = qos

        def retained() -> None:
            if not client._connected:
                return
            now = self.loop.now()
            for topic, (payload, r_qos) in list(self._retained.items()):
                if topic_matches_sub(flt, topic):
                    client.handler.on_message(now, topic, payload, min(qos, r_qos), True)

        self._later(retained)

"""What an MQTT client looks like to its owner, whichever broker is behind it.

An owner (the harness's observer, or the simulated TCU's backend) gives a transport its
:class:`ClientOptions` and a :class:`TransportHandler`, asks it to :meth:`~Transport.connect`
(one attempt: the owner decides when to retry), publishes and subscribes. Every callback
runs on the owner's :class:`~harness.clock.EventLoop` thread, with message timestamps on
the loop's clock: the paho transport (:mod:`harness.mqtt.client`) hands them over through
a queue drained by an idle hook, the simulated one (:mod:`harness.mqtt.simbroker`) calls
them from the virtual clock's timers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["ClientOptions", "Transport", "TransportHandler", "Will"]


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class ClientOptions:
    client_id: str
    clean_session: bool = True
    keepalive: int = 10
    will: Will | None = None


class TransportHandler(Protocol):
    def on_connect(self, ok: bool, reason: str) -> None:
        """The outcome of a connect attempt (CONNACK accepted, or why not)."""

    def on_lost(self, reason: str) -> None:
        """An established connection went away."""

    def on_message(self, ts: float, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """A message arrived (``ts`` on the owner's clock)."""


class Transport(Protocol):
    @property
    def connected(self) -> bool: ...

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> bool: ...

    def subscribe(self, topic: str, qos: int = 0) -> None: ...

    def close(self) -> None: ...

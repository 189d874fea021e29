"""The profile's ``mqtt`` section, compiled: topics with their codecs, and MQTT steps resolved.

Data only, nothing here touches a broker: the compiler
(:mod:`harness.profile.compile_mqtt`) builds a :class:`MqttPlan` and the
:class:`MqttStepPlan` the runner hands to the MQTT side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.identity import fill, placeholders
from harness.mqtt.codec import Asn1Module, Codec

if TYPE_CHECKING:
    from harness.profile.mqtt_model import CommandSpec

__all__ = [
    "CommandFuzzStepPlan",
    "MqttPlan",
    "MqttStepPlan",
    "TopicPlan",
    "station_topic",
    "subscription_filter",
]


def subscription_filter(template: str) -> str:
    """The MQTT filter of a topic template: each level naming an identity item becomes ``+``
    (the identity is read from the part after the harness connects)."""
    return "/".join("+" if placeholders(level) else level for level in template.split("/"))


def station_topic(template: str, identity: Mapping[str, str]) -> str:
    """The template with each ``{NAME}`` replaced by the part's identity item NAME."""
    return fill(template, identity)


@dataclass(frozen=True)
class TopicPlan:
    name: str
    template: str
    codec: Codec
    direction: str
    qos: int

    def topic(self, identity: Mapping[str, str]) -> str:
        return station_topic(self.template, identity)


@dataclass(frozen=True)
class MqttPlan:
    topics: dict[str, TopicPlan]
    asn1: Asn1Module | None = None
    asn1_path: Path | None = None
    client_id: str | None = None  # the DUT's client id template (mqtt.client_id)

    def topic(self, name: str) -> TopicPlan:
        return self.topics[name]

    def ready(self) -> None:
        """Compile what loading left for first use (the ASN.1 specification, JSON Schema
        validators), so that no message of a run waits for it."""
        if self.asn1 is not None:
            self.asn1.ready()
        for topic in self.topics.values():
            ready = getattr(topic.codec, "ready", None)
            if ready is not None:
                ready()


@dataclass(frozen=True)
class MqttStepPlan:
    """A resolved MQTT step: ``kind`` is publish, command, broker or resubscribe."""

    kind: str
    topic: str | None = None  # logical topic name
    payload: bytes = b""
    qos: int = 1
    retain: bool = False
    command: CommandSpec | None = None
    broker: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandFuzzStepPlan(MqttStepPlan):
    """A resolved ``fuzz_command`` step (``topic`` the command topic, ``ack`` the acks')."""

    ack: str = "ack"
    corpus: bool = True
    generated: int = 0
    within: float = 0.5
    gap: float = 0.02
    give_up: int = 10
    seed: int | None = None  # None: derived from the run seed (harness.fuzz)

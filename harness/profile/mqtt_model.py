"""The profile's MQTT parts: the ``mqtt`` section (topics and their codecs) and MQTT steps.

::

    mqtt:
      asn1: ../dbc/ccv2x.asn              # relative to the profile
      topics:
        bsm:    {topic: "v2x/bsm/{station_id}", codec: uper, type: BasicSafetyMessage}
        status: {topic: "v2x/status/{station_id}", codec: text}
        cmd:    {topic: "v2x/cmd/{station_id}", codec: json, direction: harness}
        ack:    {topic: "v2x/cmd/{station_id}/ack", codec: json, schema: {...}}

Checks and steps name topics by these keys; ``{NAME}`` in a topic is the value of the part's
identity item NAME as the profile's ``identity`` section declares it (read from the part at
the start of the run, or given by the bench or ``--identity``). ``client_id`` is the DUT's
MQTT client id, a template alike (``broker: drop_dut`` on the simulated broker needs it).
Steps: ``publish`` (any payload), ``command`` (a remote command
signed with the bench's PSK, or a deliberately wrong one), ``fuzz_command`` (malformed
commands from the shipped corpus and a seeded generator, see :mod:`harness.mqtt.cmdfuzz`),
``broker`` (stop, start, or cut the DUT's connection) and ``resubscribe`` (subscribe again: the
broker sends what it retained).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.units import Duration

__all__ = [
    "MQTT_STEP_MODELS",
    "BrokerStep",
    "CommandFuzzSpec",
    "CommandFuzzStep",
    "CommandSpec",
    "CommandStep",
    "MqttSection",
    "MqttTopicSpec",
    "PublishSpec",
    "PublishStep",
    "ResubscribeStep",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MqttTopicSpec(_Strict):
    topic: str = Field(
        description="topic; {NAME} is the part's identity item NAME (the identity section)"
    )
    codec: Literal["uper", "json", "text"]
    type: str | None = Field(default=None, description="ASN.1 type, for codec uper")
    schema_: dict[str, Any] | str | None = Field(
        default=None,
        alias="schema",
        description="JSON Schema (inline, or a file relative to the profile), for codec json",
    )
    direction: Literal["dut", "harness"] = Field(
        default="dut", description="who publishes: the DUT (the harness subscribes) or the harness"
    )
    qos: int = Field(default=1, ge=0, le=2, description="subscription / publish QoS")

    @model_validator(mode="after")
    def _codec_fields(self) -> MqttTopicSpec:
        if self.codec == "uper" and not self.type:
            raise ValueError("codec uper needs type: the ASN.1 type of the payload")
        return self


class MqttSection(_Strict):
    asn1: str | None = Field(default=None, description="ASN.1 module, relative to the profile")
    topics: dict[str, MqttTopicSpec] = Field(min_length=1)
    client_id: str | None = Field(
        default=None,
        description="the DUT's MQTT client id, e.g. tcu-{station_id}: needed to cut its "
        "connection (broker: drop_dut) on the simulated broker",
    )


class _StepBase(_Strict):
    name: str | None = Field(
        default=None, pattern=_NAME, description="names the moment of this step for checks"
    )


class PublishSpec(_Strict):
    topic: str = Field(description="a topic of the mqtt section")
    text: str | None = None
    json_: Any = Field(default=None, alias="json")
    hex: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f ]*$")
    qos: int = Field(default=1, ge=0, le=2)
    retain: bool = False

    @model_validator(mode="after")
    def _one_payload(self) -> PublishSpec:
        given = [k for k in ("text", "json_", "hex") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one payload: text, json or hex")
        return self


class PublishStep(_StepBase):
    publish: PublishSpec


class CommandSpec(_Strict):
    topic: str = Field(default="cmd", description="the command topic of the mqtt section")
    cmd: str = Field(description="horn, flash, lock, unlock (anything else: unknown-cmd)")
    seq: int = Field(ge=0, le=2**31 - 1)
    fault: Literal[
        "none", "bad_mac", "stale", "replay", "malformed", "oversize", "missing_seq", "bad_nonce"
    ] = Field(
        default="none",
        description="none: a valid command; bad_mac: a wrong mac; stale: ts 60 s old; replay: "
        "the nonce of this case's last valid command; malformed: not JSON; oversize: over "
        "1024 bytes; missing_seq: no seq; bad_nonce: a nonce of 31 hex digits",
    )
    age: Duration = Field(default=0.0, description="how much older than now ts is")


class CommandStep(_StepBase):
    command: CommandSpec


class CommandFuzzSpec(_Strict):
    topic: str = Field(default="cmd", description="the command topic of the mqtt section")
    ack: str = Field(default="ack", description="the ack topic of the mqtt section")
    corpus: bool = Field(default=True, description="send every payload of the shipped corpus first")
    generated: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description="how many mutants of validly signed commands to send after the corpus",
    )
    within: Duration = Field(
        default=0.5,
        description="each payload's ack must arrive within this; the next payload waits for "
        "the ack (or this long), then 'gap'",
    )
    gap: Duration = Field(
        default=0.02, description="from an ack to the next payload (a second ack shows in it)"
    )
    give_up: int = Field(
        default=10,
        ge=1,
        description="stop after this many payloads in a row without an ack (a dead part)",
    )
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = Field(
        default=None,
        description="fixed seed: the same mutants on every run; omitted: derived from the "
        "run seed (harness certify --seed), recorded in run.json",
    )

    @model_validator(mode="after")
    def _sends_something(self) -> CommandFuzzSpec:
        if not self.corpus and not self.generated:
            raise ValueError("fuzz_command sends nothing: set corpus: true or generated: N")
        if not 0.001 <= self.within <= 60.0:
            raise ValueError("within must be between 1 ms and 60 s")
        if not 0.0 <= self.gap <= 10.0:
            raise ValueError("gap must be between 0 and 10 s")
        return self


class CommandFuzzStep(_StepBase):
    """Malformed commands; its moment is the first payload (``command_fuzz`` judges them)."""

    fuzz_command: CommandFuzzSpec


class BrokerStep(_StepBase):
    broker: Literal["stop", "start", "drop_dut"] = Field(
        description="stop or start the broker, or cut the DUT's connection (its will fires)"
    )


class ResubscribeStep(_StepBase):
    resubscribe: str = Field(description="a topic of the mqtt section to subscribe to again")


MQTT_STEP_MODELS: dict[str, type[Any]] = {
    "publish": PublishStep,
    "command": CommandStep,
    "fuzz_command": CommandFuzzStep,
    "broker": BrokerStep,
    "resubscribe": ResubscribeStep,
}
MQTT_STEP_TYPES = (PublishStep, CommandStep, CommandFuzzStep, BrokerStep, ResubscribeStep)

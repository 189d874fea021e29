"""Compile the profile's ``mqtt`` section and its MQTT steps into :mod:`harness.mqtt.plan` data.

:func:`compile_mqtt_section` loads the ASN.1 module and the JSON Schemas the profile names and
builds a :class:`MqttPlan`; :func:`compile_mqtt_step` turns an MQTT step model into the
:class:`MqttStepPlan` the runner hands to the MQTT side. Nothing here touches a broker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import InputError, ProfileError
from harness.mqtt.codec import Asn1Module, Codec, JsonCodec, TextCodec, UperCodec, load_asn1
from harness.mqtt.plan import CommandFuzzStepPlan, MqttPlan, MqttStepPlan, TopicPlan
from harness.profile.mqtt_model import (
    BrokerStep,
    CommandFuzzStep,
    CommandStep,
    MqttSection,
    PublishStep,
    ResubscribeStep,
)
from harness.safeio import JSON_SCHEMA, read_input

__all__ = ["compile_mqtt_section", "compile_mqtt_step"]

ErrorFn = Callable[..., ProfileError]


def compile_mqtt_section(
    section: MqttSection, base_dir: Path, error: ErrorFn, elsewhere: Sequence[Path] = ()
) -> MqttPlan:
    """Compile the section; ``elsewhere`` are folders to look in for the ASN.1 module too
    (an evidence folder keeps it under ``mqtt/``, not at its path relative to the profile)."""
    module: Asn1Module | None = None
    asn1_path: Path | None = None
    if section.asn1 is not None:
        asn1_path = (base_dir / section.asn1).resolve()
        for folder in elsewhere:
            if not asn1_path.exists():
                asn1_path = folder / Path(section.asn1).name
        if not asn1_path.exists() or asn1_path.is_dir():
            raise error(
                ("mqtt", "asn1"),
                f"ASN.1 module not found: looked for {asn1_path}",
                expected="an existing .asn file, relative to the profile",
                got=section.asn1,
            )
        try:
            module = load_asn1(str(asn1_path))
        except InputError as exc:
            raise error(("mqtt", "asn1"), str(exc)) from None
    topics: dict[str, TopicPlan] = {}
    for name, spec in section.topics.items():
        path = ("mqtt", "topics", name)
        codec: Codec
        if spec.codec == "uper":
            if module is None:
                raise error((*path, "codec"), "codec uper needs the section's asn1 module")
            assert spec.type is not None
            if spec.type not in module.types:
                raise error(
                    (*path, "type"),
                    f"no such type in {section.asn1}",
                    expected="an ASN.1 type of the module",
                    got=spec.type,
                    choices=sorted(module.types),
                )
            codec = UperCodec(module, spec.type)
        elif spec.codec == "json":
            schema = spec.schema_
            if isinstance(schema, str):
                schema_path = base_dir / schema
                try:
                    raw = read_input(schema_path, JSON_SCHEMA)
                    schema = json.loads(raw.decode("utf-8-sig"))
                except InputError as exc:
                    raise error((*path, "schema"), f"cannot load JSON Schema: {exc}") from None
                except ValueError as exc:  # never quote a file that is not JSON
                    where = getattr(exc, "lineno", None)
                    at = f" (line {where}, column {getattr(exc, 'colno', '?')})" if where else ""
                    raise error(
                        (*path, "schema"),
                        f"cannot load JSON Schema: {schema_path} is not UTF-8 JSON{at}",
                    ) from None
            try:
                codec = JsonCodec(schema if isinstance(schema, dict) else None)
            except Exception as exc:  # jsonschema.SchemaError: its text quotes the schema
                where = "/".join(map(str, getattr(exc, "path", ()) or ())) or "its top level"
                raise error((*path, "schema"), f"not a valid JSON Schema (at {where})") from None
        else:
            codec = TextCodec()
        topics[name] = TopicPlan(name, spec.topic, codec, spec.direction, spec.qos)
    return MqttPlan(topics, module, asn1_path, section.client_id)


def _topic(
    plan: MqttPlan | None,
    error: ErrorFn,
    path: Sequence[str | int],
    name: str,
    direction: str | None = None,
) -> str:
    if plan is None:
        raise error(path, "MQTT steps and checks need the profile's mqtt section")
    if name not in plan.topics:
        raise error(
            path,
            "not a topic of the mqtt section",
            expected="a key of mqtt.topics",
            got=name,
            choices=sorted(plan.topics),
        )
    if direction is not None and plan.topics[name].direction != direction:
        who = "the DUT" if direction == "dut" else "the harness"
        raise error(path, f"topic {name} is not one {who} publishes (see its direction)")
    return name


def compile_mqtt_step(
    step: Any, path: Sequence[str | int], plan: MqttPlan | None, error: ErrorFn
) -> MqttStepPlan:
    if isinstance(step, PublishStep):
        p = step.publish
        topic = _topic(plan, error, (*path, "publish", "topic"), p.topic)
        if p.text is not None:
            payload = p.text.encode("utf-8")
        elif p.hex is not None:
            try:
                payload = bytes.fromhex(p.hex)
            except ValueError:
                raise error(
                    (*path, "publish", "hex"), expected="whole hex bytes", got=p.hex
                ) from None
        else:
            payload = json.dumps(p.json_, separators=(",", ":")).encode()
        return MqttStepPlan("publish", topic, payload, p.qos, p.retain)
    if isinstance(step, CommandStep):
        c = step.command
        topic = _topic(plan, error, (*path, "command", "topic"), c.topic, "harness")
        return MqttStepPlan("command", topic, qos=1, command=c)
    if isinstance(step, CommandFuzzStep):
        f = step.fuzz_command
        return CommandFuzzStepPlan(
            "fuzz_command",
            _topic(plan, error, (*path, "fuzz_command", "topic"), f.topic, "harness"),
            ack=_topic(plan, error, (*path, "fuzz_command", "ack"), f.ack, "dut"),
            corpus=f.corpus,
            generated=f.generated,
            within=f.within,
            gap=f.gap,
            give_up=f.give_up,
            seed=f.seed,
        )
    if isinstance(step, BrokerStep):
        return MqttStepPlan("broker", broker=step.broker)
    if isinstance(step, ResubscribeStep):
        topic = _topic(plan, error, (*path, "resubscribe"), step.resubscribe, "dut")
        return MqttStepPlan("resubscribe", topic)
    raise error(path, expected="an MQTT step", got=type(step).__name__)

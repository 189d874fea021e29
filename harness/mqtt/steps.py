"""The MQTT adapter's step kinds: publish, command, fuzz_command, broker and resubscribe.

Each step's data is a :class:`~harness.mqtt.plan.MqttStepPlan` (``fuzz_command``: its
:class:`~harness.mqtt.plan.CommandFuzzStepPlan`); :class:`~harness.mqtt.side.MqttSide` is the
adapter that carries them out and records the ``mqtt`` stream.
"""

from __future__ import annotations

from harness.adapter import STEP_KINDS, StepContext, StepKind, StepOutcome
from harness.mqtt.plan import MqttStepPlan
from harness.mqtt.side import MqttSide
from harness.plan import PlannedStep

__all__ = ["MQTT_STEP_KINDS"]

MQTT_STEP_KINDS = ("publish", "command", "fuzz_command", "broker", "resubscribe")


def _run(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    side = ctx.adapter("mqtt", MqttSide, "this run has no MQTT side (no mqtt section)")
    return StepOutcome(side.run_step(step.data_as(MqttStepPlan), step.path))


for _kind in MQTT_STEP_KINDS:
    STEP_KINDS.add(_kind, StepKind(_kind, "mqtt", MqttStepPlan, _run))

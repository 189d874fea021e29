"""Wiring MQTT into a session: the harness's side of it.

Kept apart from :mod:`harness.session` so that a session only calls :func:`open_mqtt` (a
profile without an ``mqtt`` section gets None and nothing changes). A simulated DUT joins the
simulated broker through :meth:`MqttSide.dut_transport` (see :class:`harness.dut.DutSetup`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from harness.bench import Bench
from harness.clock import EventLoop
from harness.errors import BenchError
from harness.mqtt.plan import MqttPlan
from harness.mqtt.side import MqttSide
from harness.plan import Plan
from harness.safeio import ASN1, read_input
from harness.trace import write_bytes_atomic

__all__ = ["MQTT_DIR", "mqtt_plan", "open_mqtt", "require_external_broker"]

MQTT_DIR = "mqtt"  # the evidence keeps the ASN.1 module here, for offline re-evaluation


def mqtt_plan(plan: Plan) -> MqttPlan | None:
    found = plan.extra.get("mqtt")
    return found if isinstance(found, MqttPlan) else None


EXTERNAL_BENCH_EXAMPLE = (
    "mqtt:\n  broker: {host: 127.0.0.1, port: 1883}   # the broker the part also reaches\n"
    "  relay: {host: 127.0.0.1, port: 18831}   # the address to give the part\n"
    "  psk_env: TCU_PSK                        # the part's command key, 64 hex digits"
)


def require_external_broker(plan: Plan, bench: Bench) -> None:
    """A part of its own cannot know the address of a broker the harness would start on a
    random port: with ``--dut external`` a profile with MQTT needs the bench's broker."""
    if mqtt_plan(plan) is None or bench.mqtt.broker is not None:
        return
    where = f"bench {bench.source}" if bench.source else "the bench (none given: --bench FILE)"
    raise BenchError(
        f"{where}: profile {plan.profile_id} needs MQTT and the DUT is external, but the bench "
        "names no mqtt.broker: the part could not know where to connect. Add the broker the "
        "part connects to (and a relay address to give the part, so that the harness can cut "
        "its connection), for example:\n" + EXTERNAL_BENCH_EXAMPLE
    )


def open_mqtt(
    loop: EventLoop,
    plan: Plan,
    bench: Bench,
    out_dir: Path | None,
    stack: contextlib.ExitStack,
) -> MqttSide | None:
    """Open the MQTT side of a session (broker, client, log) when the profile has MQTT."""
    mplan = mqtt_plan(plan)
    if mplan is None:
        return None
    mplan.ready()  # compiled now, not when the first message arrives
    # The module first: a run whose broker is unreachable still leaves evidence that
    # 'harness evaluate' can read (its profile names the module).
    if out_dir is not None and mplan.asn1_path is not None:
        write_bytes_atomic(
            out_dir / MQTT_DIR / mplan.asn1_path.name, read_input(mplan.asn1_path, ASN1)
        )
    return stack.enter_context(MqttSide(mplan, bench, loop, out_dir=out_dir))

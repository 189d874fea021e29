"""The ``command_fuzz`` MQTT step: the harness's side of command fuzzing.

Publishes a step's payloads (:mod:`harness.mqtt.cmdfuzz` builds and judges them) one at a
time on an :class:`~harness.mqtt.side.MqttSide`, waits for the part's acks, marks the MQTT log
so that the ``command_fuzz`` check finds the payloads again (offline too), and records the
seed, the counts and a finding per mismatch in the run's fuzz record.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from harness.fuzz import MAX_FINDINGS, FuzzContext, FuzzRecord
from harness.mqtt.cmdfuzz import (
    EVENT_END,
    EVENT_START,
    FuzzPayload,
    build_payloads,
    judge,
    show_payload,
)
from harness.mqtt.plan import CommandFuzzStepPlan

if TYPE_CHECKING:  # the side calls in here; this module never builds one
    from harness.mqtt.side import MqttSide

__all__ = ["fuzz_command"]


def fuzz_command(side: MqttSide, step: CommandFuzzStepPlan, where: str) -> float:
    """Publish the step's payloads one at a time (see :mod:`harness.mqtt.cmdfuzz`).

    Each payload waits for an ack on the step's ack topic (at most ``within``), then
    ``gap``; the last one waits the whole ``within``. After ``give_up`` payloads in a row
    without an ack the step stops (the part no longer answers). Its moment is the first
    payload. The MQTT log gets an event just before it (what the ``command_fuzz`` check
    needs to find the payloads again, offline too) and one at the end; the fuzz record
    gets the seed, the counts and a finding per mismatch.
    """
    if side.fuzz is None:
        side.fuzz = FuzzContext()
    loop = side.loop
    seed = side.fuzz.seed_for(where, step.seed)
    ts_ms = round(side.log.utc(loop.now()) * 1000)
    payloads = build_payloads(step.corpus, step.generated, seed, side.signer.mac, ts_ms)
    corpus = sum(1 for p in payloads if p.origin == "corpus")
    side.need_connection(where)
    start = loop.now()
    record = side.fuzz.start(where, "command", seed, start)
    record.details.update(
        {"corpus": corpus, "generated": len(payloads) - corpus, "within": step.within}
    )
    meta = {"step": where, "payloads": len(payloads), "within": step.within, "seed": seed}
    side.log.event(start, EVENT_START + json.dumps(meta, separators=(",", ":")))
    acks = step.ack
    acks_before = 0

    def acked() -> bool:
        return len(side.log.rx_of(acks)) > acks_before

    sent: list[float] = []
    silent = 0
    try:
        for p in payloads:
            acks_before = len(side.log.rx_of(acks))
            t = side.publish(where, step.topic or "cmd", p.payload, 1, False, f"fuzz {p.label}")
            sent.append(t)
            if loop.run_until(t + step.within, until=acked):
                silent = 0
                loop.run_for(step.gap)
            else:
                silent += 1
                if silent >= step.give_up:
                    record.details["gave_up"] = f"no ack for {silent} payloads in a row"
                    break
        if sent:
            loop.run_until(sent[-1] + step.within)
    finally:
        record.sent = len(sent)
        record.ended = loop.now()
        side.sync()
        end = {"step": where, "sent": len(sent)}
        side.log.event(record.ended, EVENT_END + json.dumps(end, separators=(",", ":")))
        _findings(side, record, step, payloads, sent)
    return sent[0]


def _findings(
    side: MqttSide,
    record: FuzzRecord,
    step: CommandFuzzStepPlan,
    payloads: list[FuzzPayload],
    sent: list[float],
) -> None:
    """One finding per mismatch (``payloads`` are all the step's, ``sent`` how many went)."""
    acks = side.log.rx_of(step.ack)
    i, j = acks.span(sent[0], sent[-1] + step.within) if sent else (0, 0)
    record.details["acks"] = j - i
    found = judge(
        sent,
        [p.payload for p in payloads[: len(sent)]],
        acks.ts[i:j],
        acks.payload[i:j],
        step.within,
    )
    record.details["mismatches"] = len(found.mismatches)
    if found.worst_latency is not None:
        record.details["max_ack_latency"] = round(found.worst_latency, 6)
    stopped = record.details.get("gave_up")
    room = MAX_FINDINGS - (1 if stopped else 0)  # the stop is a finding too, kept last
    if len(found.mismatches) > room:
        dropped = len(found.mismatches) - room
        record.details["findings_dropped"] = dropped
    for m in found.mismatches[:room]:
        p = payloads[m.index]
        record.add_finding(
            {
                "summary": f"{p.label}: {m.problem}",
                "index": p.index,
                "origin": p.origin,
                "name": p.name,
                "payload": show_payload(p.payload, 300),
                "sent": m.sent,
                "expected": m.expected,
                "got": list(m.got),
            }
        )
    if stopped:
        record.add_finding(
            {
                "summary": f"stopped after {len(sent)} of {len(payloads)} payloads: {stopped}",
                "index": len(sent) - 1,
            }
        )

"""``command_fuzz``: every payload of a ``fuzz_command`` step got the ack CMD-005 prescribes.

The check finds the step's payloads in the MQTT log (the step logs an event with its count
and ``within`` just before its first payload, which is the step's moment), recomputes each
payload's expected ack with the oracle of :mod:`harness.mqtt.cmdoracle` (from the payload
alone: no key, no record of the step's), and pairs acks and payloads by time
(:func:`harness.mqtt.cmdfuzz.judge`). It fails on a payload without an ack within ``within``,
an ack with the wrong result, reason or ``seq``, more than one ack, a command frame on CAN
while the fuzz ran, and a step that stopped early (the part stopped answering). Everything it
reads is in ``mqtt.jsonl`` and the trace, so ``harness evaluate`` recomputes it offline.

::

    - fuzz_command: {corpus: true, generated: 200, within: 500 ms, seed: 5005}
      name: fuzz
    - observe: 300 ms
      checks:
        - {kind: command_fuzz, from: fuzz}
"""

from __future__ import annotations

import json
from bisect import bisect_left
from typing import Any, Literal

from pydantic import Field

from harness.checks.base import Check, CheckParams, Resolver, register
from harness.mqtt.cmdfuzz import (
    EVENT_END,
    EVENT_START,
    Mismatch,
    corpus_name,
    judge,
    show_payload,
)
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict
from harness.units import format_duration

__all__ = ["CommandFuzzCheck"]


class CommandFuzzParams(CheckParams):
    kind: Literal["command_fuzz"]
    from_: str = Field(alias="from", description="the name of the fuzz_command step")
    topic: str = Field(default="cmd", description="the command topic the step published on")
    ack: str = Field(default="ack", description="the ack topic")
    message: str | None = Field(
        default="TCU_Command",
        description="the DUT's CAN message of an executed command (null: not checked)",
    )


def _step_events(
    events: list[tuple[float, str]], t: float
) -> tuple[dict[str, Any] | None, int | None]:
    """The last fuzz_command start event at or before ``t`` (the step's moment), and how many
    payloads its end event says were sent (None without one: the run died during the step)."""
    for k in range(len(events) - 1, -1, -1):
        ts, what = events[k]
        if ts <= t + 1e-6 and what.startswith(EVENT_START):
            try:
                meta = json.loads(what[len(EVENT_START) :])
            except ValueError:
                return None, None
            if not isinstance(meta, dict):
                return None, None
            for _, later in events[k + 1 :]:
                if later.startswith(EVENT_END):
                    try:
                        end = json.loads(later[len(EVENT_END) :])
                    except ValueError:
                        break
                    if isinstance(end, dict) and end.get("step") == meta.get("step"):
                        return meta, int(end["sent"])
            return meta, None
    return None, None


@register
class CommandFuzzCheck(Check):
    """Each fuzz payload: exactly one ack, the expected one, before the next; never executed."""

    kind = "command_fuzz"
    Params = CommandFuzzParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, CommandFuzzParams)
        self.p = params
        plan = getattr(resolver, "mqtt", None)
        if plan is None:
            raise resolver.error("kind", "command_fuzz needs the profile's mqtt section")
        for field, name, direction in (
            ("topic", params.topic, "harness"),
            ("ack", params.ack, "dut"),
        ):
            if name not in plan.topics:
                raise resolver.error(
                    field,
                    "not a topic of the mqtt section",
                    expected="a key of mqtt.topics",
                    got=name,
                    choices=sorted(plan.topics),
                )
            if plan.topics[name].direction != direction:
                who = "the harness" if direction == "harness" else "the DUT"
                raise resolver.error(field, f"topic {name} is not one {who} publishes")
        self.marker = resolver.marker("from", params.from_)
        self.frame_id: int | None = None
        if params.message is not None:
            self.frame_id = resolver.message("message", params.message).frame_id
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"every payload of {self.p.from_} acked as CMD-005 says, none executed"

    def evaluate(self, window: Window) -> CheckResult:
        log = window.mqtt
        if log is None:
            return self.result(Verdict.ERROR, "this run has no MQTT log")
        t_m = window.markers.get(self.marker)
        if t_m is None:
            return self.result(Verdict.ERROR, f"step {self.marker!r} did not run")
        meta, sent_count = _step_events(log.events, t_m)
        if meta is None:
            return self.result(
                Verdict.ERROR, f"no fuzz_command start in the MQTT log at {self.marker!r}"
            )
        count, within = int(meta["payloads"]), float(meta["within"])
        n = count if sent_count is None else sent_count
        tx = log.tx_of(self.p.topic)
        i = bisect_left(tx.ts, t_m - 1e-6)
        sent, payloads = tx.ts[i : i + n], tx.payload[i : i + n]
        if not sent:
            return self.result(Verdict.ERROR, "none of the step's payloads is in the MQTT log")
        end = sent[-1] + within + 1e-9
        acks = log.rx_of(self.p.ack)
        a, b = acks.span(sent[0], end)
        frames: list[float] = []
        if self.frame_id is not None:
            col = window.log.rx_of(self.frame_id)
            lo, hi = col.span(sent[0], end)
            frames = col.ts[lo:hi]
        found = judge(sent, payloads, acks.ts[a:b], acks.payload[a:b], within, frames)
        corpus = sum(1 for p in payloads if corpus_name(p) is not None)
        meas: dict[str, Any] = {
            "payloads": len(sent),
            "corpus": corpus,
            "acks": b - a,
            "mismatches": len(found.mismatches),
            "executed": len(frames),
            "max_ack_latency": found.worst_latency,
        }
        limits = {"within": within, "payloads": count}
        first = found.mismatches[0] if found.mismatches else None
        if first is None and len(sent) == count:
            return self.result(
                Verdict.PASS,
                f"{len(sent)} malformed commands ({corpus} from the corpus), each acked as "
                f"expected within {format_duration(within)}, none executed",
                meas,
                limits,
            )
        stopped = ""
        if len(sent) < count:
            stopped = f"the step stopped after {len(sent)} of {count} payloads (no more acks)"
        if first is None:
            return self.result(Verdict.FAIL, stopped, meas, limits, Offender(sent[-1], stopped))
        hit = len({m.index for m in found.mismatches})
        return self.result(
            Verdict.FAIL,
            f"{hit} of {len(sent)} payloads mishandled; first {_name(first)}: {first.problem}"
            + (f"; {stopped}" if stopped else ""),
            meas,
            limits,
            Offender(
                first.at, f"{_name(first)} {show_payload(first.payload, 100)}: {first.problem}"
            ),
        )


def _name(m: Mismatch) -> str:
    """The payload by its place in the step and, when it is one, its corpus entry."""
    name = corpus_name(m.payload)
    return f"#{m.index}" + (f" (corpus {name})" if name else " (generated)")

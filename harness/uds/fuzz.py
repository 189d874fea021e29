"""Diagnostic fuzzing, running it: a ``fuzz_diag`` step sends its requests and judges them.

The requests are drawn before the first is sent (:mod:`harness.uds.fuzz_draw`: the kinds, the
services left out, the seed); :class:`DiagFuzzer` sends item k at ``start + k * interval`` on
the loop's clock; :func:`run_fuzz_step` puts the part in the step's session first, returns
it to the default session after, and judges the answers from the recorded frames
(:func:`harness.uds.judge.judge_span`). Each violation becomes a finding of the step's
:class:`~harness.fuzz.FuzzRecord` naming the request. The names of :mod:`harness.uds.fuzz_draw`
are re-exported here.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import can

from harness.can.port import CanPort
from harness.clock import EventLoop, Timer
from harness.errors import InterfaceError, StepFailed
from harness.fuzz import FuzzContext, FuzzRecord
from harness.observe import quantize
from harness.uds.codec import decode_response, hexs
from harness.uds.fuzz_draw import (
    DEFAULT_EXCLUDE,
    DEFAULT_EXCLUDE_PREFIXES,
    ISOTP_KINDS,
    KINDS,
    DiagFuzzPlan,
    FuzzItem,
    available_kinds,
    generate,
)
from harness.uds.judge import Judged, judge_span

if TYPE_CHECKING:
    from harness.plan import PlannedStep
    from harness.uds.steps import DiagDriver

__all__ = [
    "DEFAULT_EXCLUDE",
    "DEFAULT_EXCLUDE_PREFIXES",
    "ISOTP_KINDS",
    "KINDS",
    "DiagFuzzPlan",
    "DiagFuzzer",
    "FuzzItem",
    "available_kinds",
    "generate",
    "run_fuzz_step",
]

ISOTP_LOGGER = "harness.uds.isotp"  # the tester link's can-isotp logger (harness.uds.link)


# -- sending -----------------------------------------------------------------------------------
class DiagFuzzer:
    """Sends the items on the loop's clock, item k at ``start + k * interval``."""

    def __init__(self, loop: EventLoop, port: CanPort, plan: DiagFuzzPlan) -> None:
        self.loop = loop
        self.port = port
        self.plan = plan
        self.items: list[FuzzItem] = []
        self.sent_at: dict[float, int] = {}  # first frame's timestamp -> item index
        self.sent = 0
        self.send_errors = 0
        self.done = False
        self._timers: list[Timer] = []

    def start(self, items: Sequence[FuzzItem]) -> None:
        self.items = list(items)
        t0 = self.loop.now()
        for item in self.items:
            for k, (offset, can_id, data) in enumerate(item.frames):
                when = t0 + item.index * self.plan.interval + offset
                self._timers.append(self.loop.call_at(when, self._sender(item, can_id, data, k)))
        end = t0 + len(self.items) * self.plan.interval
        self._timers.append(self.loop.call_at(end, self._finish))

    def _sender(self, item: FuzzItem, can_id: int, data: bytes, k: int) -> Callable[[], None]:
        return lambda: self._send(item, can_id, data, k == 0)

    def _send(self, item: FuzzItem, can_id: int, data: bytes, first: bool) -> None:
        try:
            ts = self.port.send(
                can.Message(
                    arbitration_id=can_id,
                    data=data,
                    dlc=len(data),
                    is_extended_id=self.plan.ids.extended_id,  # the declared mode's, not a guess
                    is_fd=self.plan.can_fd,  # the tester's frame format (diagnostics.can_fd)
                    bitrate_switch=self.plan.can_fd and self.plan.bitrate_switch,
                )
            )
        except InterfaceError:
            self.send_errors += 1
            return
        if first:
            self.sent_at[ts] = item.index
            self.sent += 1

    def _finish(self) -> None:
        self.done = True

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.done = True


# -- the step ----------------------------------------------------------------------------------
def run_fuzz_step(driver: DiagDriver, step: PlannedStep, plan: DiagFuzzPlan) -> tuple[float, float]:
    """Carry out a ``fuzz_diag`` step: session, fuzz, back to the default session, judge.

    Returns (start, moment): both the start of the step (its first request), so that a check
    ``from:`` the step judges the whole of it."""
    loop, client = driver.loop, driver.client
    ctx = driver.fuzz if driver.fuzz is not None else FuzzContext()
    seed = ctx.seed_for(step.path, plan.seed)
    start = loop.now()
    record = ctx.start(step.path, "diag", seed, start)
    if plan.session != "keep":
        session = 0x01 if plan.session == "default" else 0x03
        client.exchange(bytes([0x10, session]), note=f"{step.path} fuzz: session first")
    items = generate(plan, seed)
    fuzzer = DiagFuzzer(loop, driver.port, plan)
    client.link.take_received()
    fuzzer.start(items)
    budget = plan.expected_duration * 1.5 + 2.0
    with _quiet_tester_isotp():
        done = loop.run_for(budget, until=lambda: fuzzer.done)
    if not done:
        fuzzer.cancel()
        raise StepFailed(
            f"{step.path}: diagnostic fuzzing did not finish within {budget:.1f} s "
            f"({fuzzer.sent} of {plan.count} requests sent)"
        )
    if plan.restores:
        client.exchange(b"\x10\x01", note=f"{step.path} fuzz: back to the default session")
    end = loop.now()
    judged = judge_span(
        driver.port.log, quantize(start), quantize(end), plan.ids, plan.judge_oracle()
    )
    _record(record, plan, fuzzer, judged, start, end)
    if driver.log is not None:
        for j in judged:
            index = fuzzer.sent_at.get(j.stimulus.first)
            if index is not None:
                driver.log.write(_log_entry(j, items[index], step.path))
    return start, start


@contextlib.contextmanager
def _quiet_tester_isotp() -> Iterator[None]:
    """The tester's can-isotp warns of every flow control the part sends to a fuzzed first
    frame (it is not transmitting): expected here, so not worth a line each."""
    logger = logging.getLogger(ISOTP_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _record(
    record: FuzzRecord,
    plan: DiagFuzzPlan,
    fuzzer: DiagFuzzer,
    judged: list[Judged],
    start: float,
    end: float,
) -> None:
    record.sent = fuzzer.sent
    record.ended = end
    items = fuzzer.items
    bad = [j for j in judged if not j.ok]
    record.details.update(
        {
            "interval": plan.interval,
            "addressing": plan.addressing,
            "oracle": plan.oracle,
            "kinds": dict(sorted(Counter(i.kind.split(":")[0] for i in items).items())),
            "functional": sum(1 for i in items if i.functional),
            "judged": len(judged),
            "answered": sum(1 for j in judged if j.answers),
            "violations": len(bad),
        }
    )
    if fuzzer.send_errors:
        record.details["send_errors"] = fuzzer.send_errors
    for j in bad:
        index = fuzzer.sent_at.get(j.stimulus.first)
        record.add_finding(_finding(j, items[index] if index is not None else None, start))


def _frames(j: Judged) -> list[str]:
    return [
        f"{t:.6f} 0x{j.stimulus.can_id:03X} [{len(d)}] {hexs(d)}".rstrip()
        for t, d in j.stimulus.frames
    ]


def _finding(j: Judged, item: FuzzItem | None, start: float) -> dict[str, Any]:
    stim = j.stimulus
    label = f"#{item.index}" if item is not None else "(not a fuzz request)"
    return {
        "summary": f"{label} {j.summary()}",
        "index": item.index if item is not None else None,
        "kind": item.kind if item is not None else None,
        "t": round(stim.first, 6),
        "offset": round(stim.first - start, 6),
        "addressing": "functional" if stim.functional else "physical",
        "frames": _frames(j),
        "request": hexs(stim.request) if stim.request is not None else None,
        "expected": j.expect.describe(),
        "reason": j.expect.reason,
        "got": j.got(),
        "problems": list(j.problems),
        "requirement": j.requirement,
    }


def _log_entry(j: Judged, item: FuzzItem, path: str) -> dict[str, Any]:
    stim = j.stimulus
    entry: dict[str, Any] = {
        "t": round(stim.first, 6),
        "addressing": "functional" if stim.functional else "physical",
        "can_id": f"0x{stim.can_id:03X}",
        "step": path,
        "fuzz": item.index,
        "kind": item.kind,
        "frames": [f"[{len(d)}] {hexs(d)}".rstrip() for _, d in stim.frames],
        "request": hexs(stim.request) if stim.request is not None else None,
        "expect": j.expect.describe(),
        "responses": [
            {
                "first": a.first,
                "last": a.last,
                "frames": a.frames,
                "data": hexs(a.payload),
                "meaning": decode_response(a.payload).describe(),
            }
            for a in j.answers
        ],
        "verdict": "ok" if j.ok else "; ".join(j.problems),
    }
    return entry

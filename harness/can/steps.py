"""The CAN adapter: its step kinds, their typed data, and the frame stream it records.

Step kinds (registered in :data:`harness.adapter.STEP_KINDS`, transport ``can``):

========== ========================== ====================================================
kind       data                       what it does
========== ========================== ====================================================
set        :class:`SetSignals`        change rest-bus signals; waits for the next frame
stop/start :class:`RestbusSwitch`     stop or start a rest-bus message
send       :class:`SendFrame`         send one raw frame
inject     :class:`InjectFault`       corrupt the next frames of a rest-bus message
wait_frames :class:`WaitFrames`       wait until a rest-bus message sent N more frames
noise      :class:`~harness.can.fuzz.CanFuzzPlan`  background frames for the rest of the case
fuzz_can   :class:`~harness.can.fuzz.CanFuzzPlan`  fuzz to the end, then judge its checks
========== ========================== ====================================================

:class:`CanAdapter` records the ``can`` stream (the run's :class:`~harness.observe.FrameLog`)
and, between cases, resets the rest-bus and cancels background traffic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import can

from harness.adapter import StepContext, StepOutcome, step_kind
from harness.can.dbc import MessageCodec, SignalCodec
from harness.can.fuzz import CanFuzzer, CanFuzzPlan
from harness.can.port import CanPort
from harness.can.restbus import RestBus, RestbusEntry
from harness.clock import EventLoop
from harness.errors import StepFailed
from harness.fuzz import FuzzContext
from harness.observe import CAN_STREAM, bus_stream
from harness.plan import DEFAULT_BUS, PlannedStep

__all__ = [
    "CanAdapter",
    "InjectFault",
    "RestbusSwitch",
    "SendFrame",
    "SetSignals",
    "SignalSet",
    "WaitFrames",
]


@dataclass(frozen=True)
class SignalSet:
    message: MessageCodec
    signal: SignalCodec
    raw: int


@dataclass(frozen=True)
class SetSignals:
    sets: tuple[SignalSet, ...]


@dataclass(frozen=True)
class RestbusSwitch:
    message: MessageCodec


@dataclass(frozen=True)
class SendFrame:
    frame_id: int
    data: bytes
    extended: bool = False
    fd: bool = False
    brs: bool = False
    bus: str = DEFAULT_BUS  # the named bus it is sent on


@dataclass(frozen=True)
class InjectFault:
    message: MessageCodec
    fault: str
    count: int
    dlc: int | None = None
    wait: bool = True


@dataclass(frozen=True)
class WaitFrames:
    message: MessageCodec
    count: int


class CanAdapter:
    """The CAN side of a run: the port, the rest-bus, and background fuzz traffic."""

    name = "can"

    def __init__(
        self,
        loop: EventLoop,
        port: CanPort,
        restbus: RestBus,
        bitrate: int,
        fuzz: FuzzContext,
        buses: Mapping[str, tuple[CanPort, int]] | None = None,
    ) -> None:
        self.loop = loop
        self.port = port  # the first (primary) bus's
        self.restbus = restbus
        self.bitrate = bitrate
        self.fuzz = fuzz
        self.noise: list[CanFuzzer] = []  # background CAN traffic of noise and fuzz steps
        # every named bus: its port and nominal bit rate (one bus: the port, named can)
        self.buses: dict[str, tuple[CanPort, int]] = (
            dict(buses) if buses else {DEFAULT_BUS: (port, bitrate)}
        )

    def port_of(self, bus: str) -> tuple[CanPort, int]:
        """The port and bit rate of named bus ``bus``; StepFailed when the run has none."""
        found = self.buses.get(bus)
        if found is None:
            raise StepFailed(f"this run has no CAN bus {bus!r} (it has {', '.join(self.buses)})")
        return found

    def streams(self) -> Mapping[str, object]:
        """``can``: the first bus's frames; ``can.NAME``: each named bus's."""
        out: dict[str, object] = {CAN_STREAM: self.port.log}
        for name, (port, _) in self.buses.items():
            out[bus_stream(name)] = port.log
        return out

    def begin_case(self) -> None:
        self.restbus.reset()
        self.end_case()

    def end_case(self) -> None:
        for gen in self.noise:
            gen.cancel()
        self.noise.clear()

    def await_sends(
        self, entries: Sequence[RestbusEntry], counts: Sequence[int], what: str
    ) -> float:
        """Run until each entry has sent ``counts[i]`` more frames; the last send time."""
        targets = [e.sent + n for e, n in zip(entries, counts, strict=True)]
        for e in entries:
            if not e.running:
                raise StepFailed(f"{what}: {e.msg.name} is stopped; start it first")
        budget = max(e.plan.cycle * n for e, n in zip(entries, counts, strict=True)) + 1.0
        done = self.loop.run_for(
            budget, until=lambda: all(e.sent >= t for e, t in zip(entries, targets, strict=True))
        )
        if not done:
            raise StepFailed(f"{what}: frames were not sent within {budget:.3f} s")
        return max(e.last_sent or 0.0 for e in entries)

    def fuzz_to_end(self, step: PlannedStep, plan: CanFuzzPlan) -> None:
        """Run a fuzz_can step to its end (a pass over every pair, or its 'for')."""
        seed = self.fuzz.seed_for(step.path, plan.seed)
        record = self.fuzz.start(step.path, "can", seed, self.loop.now())
        port, bitrate = self.port_of(plan.bus)
        gen = CanFuzzer(self.loop, port, plan, bitrate, seed, record)
        self.noise.append(gen)  # cancelled with the case, whatever happens
        gen.start()
        budget = plan.expected_duration(bitrate) * 1.5 + 1.0
        if plan.watch is not None:  # the watch stays on for one silence after the last frame
            budget += plan.watch.silence
        if not self.loop.run_for(budget, until=lambda: gen.done):
            gen.cancel()
            raise StepFailed(
                f"{step.path}: fuzzing did not finish within {budget:.1f} s "
                f"({gen.sent} frames sent); is the bus or the harness saturated?"
            )


_NO_CAN = "this run has no CAN adapter"


def _can(ctx: StepContext) -> CanAdapter:
    return ctx.adapter("can", CanAdapter, _NO_CAN)


@step_kind("set", "can", SetSignals)
def _set(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    adapter = _can(ctx)
    touched: dict[str, RestbusEntry] = {}
    for s in step.data_as(SetSignals).sets:
        entry = adapter.restbus[s.message.name]
        entry.set_raw(s.signal.name, s.raw)
        touched[entry.msg.name] = entry
    running = [e for e in touched.values() if e.running]
    if running:
        return StepOutcome(adapter.await_sends(running, [1] * len(running), step.path))
    return StepOutcome()


@step_kind("stop", "can", RestbusSwitch)
def _stop(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    entry = _can(ctx).restbus[step.data_as(RestbusSwitch).message.name]
    entry.stop()
    return StepOutcome(entry.last_sent)


@step_kind("start", "can", RestbusSwitch)
def _start(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    adapter = _can(ctx)
    entry = adapter.restbus[step.data_as(RestbusSwitch).message.name]
    if not entry.running:
        entry.start(first=ctx.loop.now())
    return StepOutcome(adapter.await_sends([entry], [1], step.path))


@step_kind("send", "can", SendFrame)
def _send(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    frame = step.data_as(SendFrame)
    port, _ = _can(ctx).port_of(frame.bus)
    moment = port.send(
        can.Message(
            arbitration_id=frame.frame_id,
            data=frame.data,
            dlc=len(frame.data),
            is_extended_id=frame.extended,
            is_fd=frame.fd,
            bitrate_switch=frame.brs,
        )
    )
    return StepOutcome(moment)


@step_kind("inject", "can", InjectFault)
def _inject(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    adapter = _can(ctx)
    fault = step.data_as(InjectFault)
    entry = adapter.restbus[fault.message.name]
    entry.inject(fault.fault, fault.count, fault.dlc)
    if fault.wait:
        return StepOutcome(adapter.await_sends([entry], [fault.count], step.path))
    return StepOutcome()


@step_kind("wait_frames", "can", WaitFrames)
def _wait_frames(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    adapter = _can(ctx)
    wait = step.data_as(WaitFrames)
    entry = adapter.restbus[wait.message.name]
    return StepOutcome(adapter.await_sends([entry], [wait.count], step.path))


@step_kind("noise", "can", CanFuzzPlan)
def _noise(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    adapter = _can(ctx)
    plan = step.data_as(CanFuzzPlan)
    assert plan.seed is not None  # the compiler gives noise a seed
    port, bitrate = adapter.port_of(plan.bus)
    gen = CanFuzzer(ctx.loop, port, plan, bitrate, plan.seed)
    adapter.noise.append(gen)
    gen.start()
    return StepOutcome()


@step_kind("fuzz_can", "can", CanFuzzPlan)
def _fuzz_can(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    t0 = ctx.loop.now()
    _can(ctx).fuzz_to_end(step, step.data_as(CanFuzzPlan))
    return StepOutcome(window_from=t0)

"""A fuzzer's frames taken inline on the virtual clock (EventLoop.run_inline) are the frames
one timer per frame gives: same frames, same instants, same order against the other timers
and against what a received frame sets off (law, over random plans and timer mixes)."""

from __future__ import annotations

import uuid
from typing import Any

import can
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.can.fuzz import CanFuzzer, CanFuzzPlan, FuzzWatchPlan
from harness.can.port import CanPort
from harness.can.simbus import SimBus
from harness.clock import EventLoop, VirtualClock
from harness.fuzz import FuzzRecord
from harness.observe import FrameLog

PLAN = st.builds(
    CanFuzzPlan,
    ids=st.lists(st.integers(min_value=0x100, max_value=0x7FF), min_size=1, max_size=5).map(tuple),
    dlcs=st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=4).map(tuple),
    payload=st.sampled_from(["random", "zeros", "ones"]),
    order=st.sampled_from(["sweep", "shuffled", "random"]),
    rate=st.sampled_from([None, 500.0, 1000.0, 3000.0]),
    load_percent=st.just(30.0),
    duration=st.sampled_from([None, 0.05, 0.2]),
    seed=st.integers(min_value=0, max_value=2**32),
    watch=st.sampled_from([None, FuzzWatchPlan("Status", 0x3A0, 0.02)]),
)


def _run(plan: CanFuzzPlan, periods: list[float], echo: bool, inline: bool) -> Any:
    clock = VirtualClock()
    loop = EventLoop(clock)
    if not inline:
        loop.run_inline = lambda when: False  # type: ignore[method-assign]
    channel = f"inline-{uuid.uuid4().hex[:8]}"
    harness_bus = SimBus(channel, clock=clock)
    part_bus = SimBus(channel)
    log = FrameLog()
    port = CanPort(loop, harness_bus, log)
    part_seen: list[tuple[float, int, bytes]] = []

    def part(msg: can.Message) -> None:  # the part answers some frames at once
        part_seen.append((clock.now(), msg.arbitration_id, bytes(msg.data)))
        if echo and msg.arbitration_id % 3 == 0:
            part_bus.send(can.Message(arbitration_id=0x3A0, data=b"\x01", is_extended_id=False))

    loop.add_reader(part_bus, part)
    for k, period in enumerate(periods):  # the part's and the rest-bus's own cycles
        loop.every(
            period,
            lambda k=k: part_bus.send(
                can.Message(arbitration_id=0x3A0 + k, data=bytes([k]), is_extended_id=False)
            ),
            first=period / 2,
        )
    record = FuzzRecord("cases[0].steps[0]", "can", plan.seed or 0, 0.0)
    gen = CanFuzzer(loop, port, plan, 500_000, plan.seed or 0, record)
    gen.start()
    loop.run_for(5.0, until=lambda: gen.done)
    loop.run_for(0.01)
    part_bus.shutdown()
    harness_bus.shutdown()
    tx = {i: (list(c.ts), list(c.data)) for i, c in log.tx.items()}
    rx = {i: (list(c.ts), list(c.data)) for i, c in log.rx.items()}
    return tx, rx, part_seen, gen.sent, clock.now(), record.findings, record.details


@settings(max_examples=40, deadline=None)
@given(
    plan=PLAN,
    periods=st.lists(st.sampled_from([0.001, 0.002, 0.005, 0.01, 0.1]), max_size=3),
    echo=st.booleans(),
)
def test_inline_turns_equal_one_timer_per_frame(
    plan: CanFuzzPlan, periods: list[float], echo: bool
) -> None:
    assert _run(plan, periods, echo, inline=True) == _run(plan, periods, echo, inline=False)


def test_inline_turns_happen_on_the_virtual_clock_only() -> None:
    loop = EventLoop(VirtualClock())
    assert loop.run_inline(1.0) is False  # outside run_until
    taken: list[bool] = []
    loop.call_at(0.5, lambda: taken.append(loop.run_inline(0.6)))
    loop.call_at(0.7, lambda: taken.append(loop.run_inline(0.7)))  # a timer due at 0.7
    loop.call_at(0.7, lambda: None)
    loop.call_at(0.8, lambda: taken.append(loop.run_inline(2.0)))  # beyond the run
    loop.run_until(1.0)
    assert taken == [True, False, False]


@pytest.mark.parametrize("stop_at", [0.3, 0.55])
def test_an_until_that_turns_true_stops_the_inline_turns(stop_at: float) -> None:
    clock = VirtualClock()
    loop = EventLoop(clock)
    turns: list[float] = []

    def turn() -> None:
        while True:
            turns.append(clock.now())
            if not loop.run_inline(clock.now() + 0.1):
                loop.call_at(clock.now() + 0.1, turn)
                return

    loop.call_at(0.0, turn)
    assert loop.run_until(5.0, until=lambda: clock.now() >= stop_at) is True
    assert turns[-1] >= stop_at and all(t < stop_at for t in turns[:-1])

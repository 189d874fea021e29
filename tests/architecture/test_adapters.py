"""Adapters behind one protocol: a transport the harness does not know, added from a test.

The "lamp" transport is a module's worth of code: a bench lamp switched by frames on a bus of
its own (a python-can ``virtual`` channel apart from the DUT's), an adapter that records what
the lamp received as the ``lamp`` stream, one step kind registered in ``STEP_KINDS``, and a
check reading the stream from its window. The runner runs it next to the built-in CAN steps
with no edit to ``harness/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import can
import pytest

from harness.adapter import STEP_KINDS, StepContext, StepKind, StepOutcome
from harness.bench import Bench
from harness.can.steps import CanAdapter, SendFrame
from harness.errors import InputError
from harness.observe import CAN_STREAM, FrameLog, Window
from harness.plan import Plan, PlannedCase, PlannedStep
from harness.profile.compile import load_profile
from harness.record import CheckResult, Verdict
from harness.registry import DuplicateRegistration
from harness.session import DutChoice, Session

ROOT = Path(__file__).resolve().parents[2]
LAMP_ID = 0x3F0


@dataclass
class LampLog:
    """What the lamp received: (bus time, on) per switching frame."""

    switched: list[tuple[float, bool]] = field(default_factory=list)


@dataclass(frozen=True)
class LampBlink:
    """The lamp step's data: blink this many times."""

    times: int


class LampAdapter:
    """The harness's side of the lamp bus, and the lamp listening on it."""

    name = "lamp"

    def __init__(self, channel: str) -> None:
        self.bus = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
        self.lamp = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
        self.log = LampLog()
        self.cases = 0

    def streams(self) -> Mapping[str, object]:
        return {"lamp": self.log}

    def begin_case(self) -> None:
        self.cases += 1

    def end_case(self) -> None:
        pass

    def close(self) -> None:
        self.bus.shutdown()
        self.lamp.shutdown()


def run_lamp(ctx: StepContext, step: PlannedStep) -> StepOutcome:
    adapter = ctx.adapter("lamp", LampAdapter, "this run has no lamp")
    t0 = ctx.loop.now()
    for _ in range(step.data_as(LampBlink).times):
        for on in (True, False):
            adapter.bus.send(
                can.Message(arbitration_id=LAMP_ID, data=[int(on)], is_extended_id=False)
            )
            ctx.loop.run_for(0.05)
            got = adapter.lamp.recv(timeout=1.0)  # the lamp's side of the bus
            assert got is not None and got.arbitration_id == LAMP_ID
            adapter.log.switched.append((ctx.loop.now(), bool(got.data[0])))
    return StepOutcome(moment=t0, window_from=t0)


class LampBlinked:
    """PASS when the lamp went on exactly ``times`` times in the window."""

    kind = "lamp_blinked"

    def __init__(self, times: int) -> None:
        self.times = times
        self.label = f"lamp blinked {times} times"
        self.requirements = ("CAN-001",)

    def evaluate(self, window: Window) -> CheckResult:
        log = window.stream("lamp", LampLog)
        ons = sum(1 for t, on in log.switched if on and window.t0 <= t <= window.t1)
        verdict = Verdict.PASS if ons == self.times else Verdict.FAIL
        return CheckResult(
            kind=self.kind,
            verdict=verdict,
            summary=f"the lamp went on {ons} times (expected {self.times})",
            measurements={"ons": ons},
            label=self.label,
            requirements=self.requirements,
        )


@pytest.fixture
def lamp_kind() -> Iterator[None]:
    STEP_KINDS.add("lamp_blink", StepKind("lamp_blink", "lamp", LampBlink, run_lamp), "test")
    try:
        yield
    finally:
        STEP_KINDS.unregister("lamp_blink")


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_profile(ROOT / "profiles" / "cc-tcu-1.yaml")


def lamp_case(plan: Plan, times: int, expect: int) -> PlannedCase:
    ready = plan.ready_message.frame_id
    steps = (
        PlannedStep("send", "steps[0]", "poke", data=SendFrame(0x7FF, b"\x00")),  # built-in
        PlannedStep(
            "lamp_blink", "steps[1]", "blink", data=LampBlink(times), checks=(LampBlinked(expect),)
        ),
        PlannedStep("wait", "steps[2]", duration=0.2),
    )
    assert ready  # the DUT keeps sending while the lamp blinks
    return PlannedCase("TC-LAMP", "lamp", ("CAN-001",), True, steps, (), "cases[99]")


def test_a_new_transport_is_a_module_plus_a_registration(plan: Plan, lamp_kind: None) -> None:
    adapter = LampAdapter(f"lamp-{uuid.uuid4().hex}")
    try:
        with Session(plan, Bench(), DutChoice.parse("sim")) as session:
            session.runner.attach(adapter)
            passing = session.run_case(lamp_case(plan, 3, 3))
            failing = session.run_case(lamp_case(plan, 2, 3))  # the check can fail
    finally:
        adapter.close()
    assert passing.verdict is Verdict.PASS, passing
    assert [r.verdict for r in passing.checks] == [Verdict.PASS]
    assert passing.checks[0].measurements["ons"] == 3
    assert failing.verdict is Verdict.FAIL
    assert failing.checks[0].summary == "the lamp went on 2 times (expected 3)"
    # the step's marker, and the lamp's frames really crossed the virtual bus
    assert passing.markers["blink"] >= passing.markers["poke"]
    assert [on for _, on in adapter.log.switched] == [True, False] * 5
    assert adapter.cases == 2  # the runner told the adapter each case began
    # the built-in CAN steps ran through the same registry, next to it
    assert STEP_KINDS.get("send").transport == "can"
    assert isinstance(session.runner.adapters["can"], CanAdapter)


def test_a_step_whose_transport_is_not_attached_is_an_error_case(
    plan: Plan, lamp_kind: None
) -> None:
    with Session(plan, Bench(), DutChoice.parse("sim")) as session:
        record = session.run_case(lamp_case(plan, 1, 1))
    assert record.verdict is Verdict.ERROR
    assert record.error == "steps[1]: this run has no lamp"


def test_a_step_with_data_of_another_kind_is_an_error_case(plan: Plan, lamp_kind: None) -> None:
    wrong = PlannedCase(
        "TC-LAMP",
        "lamp",
        ("CAN-001",),
        True,
        (PlannedStep("lamp_blink", "steps[0]", data=SendFrame(1, b"")),),
        (),
        "cases[99]",
    )
    with Session(plan, Bench(), DutChoice.parse("sim")) as session:
        session.runner.attach(LampAdapter(f"lamp-{uuid.uuid4().hex}"))
        record = session.run_case(wrong)
    assert record.verdict is Verdict.ERROR
    assert record.error == "steps[0]: a lamp_blink step carries SendFrame, expected LampBlink"


def test_a_step_kind_registered_twice_is_refused() -> None:
    with pytest.raises(DuplicateRegistration, match="'wait' is registered twice"):
        STEP_KINDS.add("wait", StepKind("wait", "lamp", None, run_lamp), "test")
    with pytest.raises(InputError, match="unknown step kind"):
        STEP_KINDS.get("blink_twice")


def test_a_window_carries_streams_by_name_typed() -> None:
    log = FrameLog()
    window = Window(0.0, 1.0, log, {}, 500_000, streams={"lamp": LampLog()})
    assert window.log is log and window.stream(CAN_STREAM, FrameLog) is log
    assert isinstance(window.stream("lamp", LampLog), LampLog)
    assert window.mqtt is None and window.prompts is None
    with pytest.raises(TypeError, match="'lamp' is a LampLog, not FrameLog"):
        window.stream("lamp", FrameLog)
    with pytest.raises(KeyError, match="no 'mqtt' stream"):
        window.stream("mqtt", FrameLog)

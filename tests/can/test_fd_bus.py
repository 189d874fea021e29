"""CAN FD end to end: a profile on an FD bus (``bus: {fd: true, ...}``), its rest-bus sending a
32-byte FD command protected with AUTOSAR E2E Profile 5 to a small simulated FD part (a DUT
provider registered from this test) that answers with a 24-byte FD status on a 29-bit
identifier, Profile 5 protected. Cycle time, counter, CRC and bus load pass; a part that
corrupts its CRC or accepts corrupted commands fails the case of that requirement only; the
BLF keeps the FD, BRS and extended flags of every frame, and ``harness evaluate`` of the
evidence agrees with the live verdicts."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from harness.bench import Bench, with_fd
from harness.can.dbc import CanDatabase
from harness.can.port import CanPort
from harness.can.simbus import SimBus
from harness.clock import EventLoop, PeriodicTask, VirtualClock
from harness.dut import DUTS, DutProvider, DutSetup, Variant
from harness.errors import ProfileError
from harness.observe import FLAG_BRS, FLAG_EXTENDED, FLAG_FD, FrameLog, frame_flags
from harness.offline import evaluate_evidence, load_evidence, read_trace
from harness.plan import Plan
from harness.profile.compile import load_profile, load_profile_text
from harness.record import Verdict
from harness.session import DutChoice, Session
from harness.trace import TraceWriter
from tests.can.helpers import protection
from tests.ports import free_udp_port
from tests.report.conftest import assert_agrees

ROOT = Path(__file__).resolve().parents[2]
DBC = Path(__file__).resolve().parent / "data" / "fd-part.dbc"
STATUS_ID = 0x18FF1020
COMMAND_ID = 0x120

PROFILE = """format: cc-harness-profile/1
profile:
  id: fd-part
  version: 0.1.0
  title: A CAN FD part with AUTOSAR E2E Profile 5
  requirements: {id: FD, version: "1", ids: [FD-001, FD-002]}
dbc: fd-part.dbc
bus: {fd: true, bitrate: 500000, data_bitrate: 2000000}
dut:
  node: FDPART
  ready: {message: FD_Status}
e2e:
  FD_Command: {scheme: autosar_p05, data_id: 0x0120}
  FD_Status: {scheme: autosar_p05, data_id: 0x1020}
restbus:
  FD_Command:
    signals: {Request: 7, Setpoint: 12.5}
cases:
  - id: TC-FD-001
    title: FD_Status every 50 ms, Profile 5 counter and CRC intact
    requirements: [FD-001]
    steps:
      - observe: 2 s
        checks:
          - {kind: cycle_time, message: FD_Status, min: 45 ms, max: 55 ms}
          - {kind: alive_counter, message: FD_Status}
          - {kind: e2e_crc, message: FD_Status}
          - {kind: bus_load, max_percent: 20}
  - id: TC-FD-002
    title: Commands with a wrong Profile 5 CRC are rejected, good ones followed
    requirements: [FD-002]
    steps:
      - inject: {message: FD_Command, fault: crc, count: 3}
      - set: {FD_Command.Request: 42}
      - observe: 300 ms
        checks:
          - {kind: signal, message: FD_Status, signal: Rejected, min: 3}
          - {kind: signal, message: FD_Status, signal: Mirror, equals: 42, min_frames: 4}
"""

VARIANTS = {
    v.name: v
    for v in (
        Variant("bad-crc", "FD-001", "every 10th FD_Status has a wrong Profile 5 CRC"),
        Variant("accept-any", "FD-002", "follows commands whatever their CRC"),
    )
}


class FdPart:
    """The simulated FD part: checks FD_Command through Profile 5, mirrors its Request, and
    sends FD_Status (29-bit, BRS) every 50 ms with a Profile 5 header."""

    def __init__(
        self, loop: EventLoop, bus: can.BusABC, db: CanDatabase, variant: str | None
    ) -> None:
        self.loop = loop
        self.bus = bus
        self.variant = variant
        self.status = db.message("FD_Status")
        self.request = db.message("FD_Command").signal("Request")
        self.status_e2e = protection(db, "FD_Status", "autosar_p05", data_id=0x1020)
        self.command_e2e = protection(db, "FD_Command", "autosar_p05", data_id=0x0120)
        self.counter = 0
        self.sent = 0
        self.mirror = 0
        self.accepted = 0
        self.rejected = 0
        self._task: PeriodicTask | None = None
        self._reading = False

    @property
    def part(self) -> FdPart:
        return self

    def start(self) -> None:
        if not self._reading:
            self.loop.add_reader(self.bus, self._on_frame)
            self._reading = True
        self._task = self.loop.every(0.050, self._send, first=self.loop.now())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _send(self) -> None:
        values = {
            "CRC": 0,
            "Counter": 0,
            "Mirror": self.mirror,
            "Accepted": self.accepted & 0xFFFF,
            "Rejected": self.rejected & 0xFFFF,
        }
        data = self.status_e2e.protect(self.status.encode(values), self.counter)
        self.counter = (self.counter + 1) & 0xFF
        self.sent += 1
        if self.variant == "bad-crc" and self.sent % 10 == 0:
            data = self.status_e2e.corrupt(data)
        msg = can.Message(
            arbitration_id=STATUS_ID,
            is_extended_id=True,
            is_fd=True,
            bitrate_switch=True,
            data=data,
        )
        with contextlib.suppress(can.CanError):
            self.bus.send(msg)

    def _on_frame(self, msg: can.Message) -> None:
        if msg.arbitration_id != COMMAND_ID or msg.is_extended_id or not msg.is_fd:
            return
        data = bytes(msg.data)
        if self.variant != "accept-any" and not self.command_e2e.verify(data):
            self.rejected += 1
            return
        self.accepted += 1
        request = self.request.raw(data)
        if request is not None:
            self.mirror = request


class FdPartProvider(DutProvider):
    name = "fd-part"
    description = "test part: a CAN FD part with AUTOSAR E2E Profile 5"
    requirement_set = "FD"
    variants = VARIANTS

    def build(self, setup: DutSetup) -> FdPart:
        if setup.variant is not None:
            self.variant(setup.variant)
        return FdPart(setup.loop, setup.bus, setup.db, setup.variant)

    def default_dbc(self) -> Path:
        return DBC


@pytest.fixture(scope="module", autouse=True)
def _provider() -> Iterator[None]:
    DUTS.add("fd-part", FdPartProvider(), origin="test")
    try:
        yield
    finally:
        DUTS.unregister("fd-part")


@pytest.fixture()
def profile(tmp_path: Path) -> Path:
    shutil.copy(DBC, tmp_path / "fd-part.dbc")
    path = tmp_path / "fd-part.yaml"
    path.write_text(PROFILE, encoding="utf-8")
    return path


def _run(
    plan: Plan, dut: str, out: Path, *, realtime: bool = False, bench: Bench | None = None
) -> dict[str, Verdict]:
    chosen = bench if bench is not None else Bench()
    with Session(plan, chosen, DutChoice.parse(dut), out_dir=out, realtime=realtime) as s:
        s.run_all()
    for case in s.record.cases:  # shown by pytest when a verdict is not the one expected
        for check in case.checks:
            print(case.case_id, check.kind, check.verdict.value, check.summary)
    return {case.case_id: case.verdict for case in s.record.cases}


def test_the_profile_declares_an_fd_bus_and_a_classic_bus_refuses_fd_messages(
    profile: Path,
) -> None:
    plan = load_profile(profile)
    assert (plan.fd, plan.bitrate, plan.data_bitrate, plan.brs) == (True, 500000, 2000000, True)
    (command,) = plan.restbus
    assert (command.fd, command.brs) == (True, True)
    classic = profile.with_name("classic.yaml")
    classic.write_text(
        PROFILE.replace("bus: {fd: true,", "bus: {fd: false,").replace(
            ", data_bitrate: 2000000}", "}"
        )
    )
    with pytest.raises(ProfileError, match=r"classic.yaml:.*FD_Command .* CAN FD frame of 32"):
        load_profile(classic)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("bus: {fd: false, bitrate: 500000, data_bitrate: 2000000}", "data_bitrate is for"),
        ("bus: {fd: true, bitrate: 500000, data_bitrate: 250000}", "at or above the nominal"),
        ("bus: {fd: true, bitrate: 500000}\nbitrate: 250000", "bit rate is given twice"),
    ],
)
def test_a_bad_bus_section_is_a_located_error(profile: Path, edit: str, expected: str) -> None:
    profile.write_text(
        PROFILE.replace("bus: {fd: true, bitrate: 500000, data_bitrate: 2000000}", edit)
    )
    with pytest.raises(ProfileError, match=expected) as err:
        load_profile(profile)
    assert "fd-part.yaml:" in str(err.value)


def test_fd_part_passes_and_the_trace_keeps_every_frame_flag(profile: Path, tmp_path: Path) -> None:
    plan = load_profile(profile)
    out = tmp_path / "run"
    verdicts = _run(plan, "sim:fd-part", out)
    assert verdicts == {"TC-FD-001": Verdict.PASS, "TC-FD-002": Verdict.PASS}
    with can.BLFReader(str(out / "trace.blf")) as reader:
        frames = list(reader)
    status = [m for m in frames if m.arbitration_id == STATUS_ID]
    command = [m for m in frames if m.arbitration_id == COMMAND_ID]
    assert status and command
    assert all(m.is_fd and m.bitrate_switch and m.is_extended_id for m in status)
    assert all(len(m.data) == 24 and m.is_rx for m in status)
    assert all(m.is_fd and m.bitrate_switch and not m.is_extended_id for m in command)
    assert all(len(m.data) == 32 and not m.is_rx for m in command)
    log, _ = read_trace(out / "trace.blf", None)
    assert set(log.rx_flags) == {FLAG_EXTENDED | FLAG_FD | FLAG_BRS}
    evaluation = evaluate_evidence(load_evidence(out, profile))
    assert_agrees(evaluation)
    assert [c.recorded for c in evaluation.cases] == [Verdict.PASS, Verdict.PASS]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_faulty_fd_part_fails_its_requirement_only(
    profile: Path, tmp_path: Path, variant: str
) -> None:
    plan = load_profile(profile)
    out = tmp_path / "run"
    verdicts = _run(plan, f"sim:fd-part:{variant}", out)
    failing = {c for c, v in verdicts.items() if v is not Verdict.PASS}
    expected = {"FD-001": {"TC-FD-001"}, "FD-002": {"TC-FD-002"}}[VARIANTS[variant].requirement]
    assert failing == expected, verdicts
    assert_agrees(evaluate_evidence(load_evidence(out, profile)))


# The part as its own program (``harness sim run`` does the same for a registered provider):
# its timers then never wait for the harness's interpreter lock, as a real part's would not.
PART_PROCESS = """
import sys
from harness.bench import load_bench
from harness.can.dbc import load_dbc
from harness.sim.host import serve
from tests.can.test_fd_bus import DBC, FdPartProvider
raise SystemExit(serve(FdPartProvider(), load_bench(sys.argv[1]), load_dbc(DBC), None))
"""


@contextlib.contextmanager
def _part_process(bench: Path) -> Iterator[subprocess.Popen[str]]:
    """The FD part in a process of its own on ``bench``'s bus, until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", PART_PROCESS, str(bench)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
    )
    try:
        assert proc.stdout is not None
        said = []
        for line in proc.stdout:  # up to the line saying it runs (or its end)
            said.append(line)
            if " running on " in line:
                break
        assert proc.poll() is None, "".join(said)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.realtime
@pytest.mark.parametrize("interface", ["virtual", "udp_multicast"])
def test_fd_part_passes_in_real_time_over_python_can(
    profile: Path, tmp_path: Path, interface: str
) -> None:
    """The bench names no fd option: the session adds python-can's fd=True to the bench it
    opens its end from, because the profile's bus is FD. On ``virtual`` (one process only) the
    part runs on the session's loop; on ``udp_multicast`` in a process of its own, certified
    as an external part (a simulated part in the harness's process shares its interpreter
    lock, and a loaded machine then delays its frames: not the part's timing)."""
    plan = load_profile(profile)
    out = tmp_path / "run"
    if interface == "virtual":
        bench = Bench.model_validate(
            {"can": {"interface": interface, "channel": f"fd-{uuid.uuid4().hex[:8]}"}}
        )
        verdicts = _run(plan, "sim:fd-part", out, realtime=True, bench=bench)
    else:
        can_config = {"channel": "239.74.163.2", "options": {"port": free_udp_port()}}
        bench = Bench.model_validate({"can": {"interface": interface, **can_config}})
        part_bench = tmp_path / "part-bench.yaml"
        fd = {**can_config, "options": {**can_config["options"], "fd": True}}  # type: ignore[dict-item]
        part_bench.write_text(
            json.dumps({"format": "cc-harness-bench/1", "can": {"interface": interface, **fd}}),
            encoding="utf-8",
        )
        with _part_process(part_bench) as part:
            verdicts = _run(plan, "external", out, realtime=True, bench=bench)
            assert part.poll() is None  # it ran through the whole run
    assert verdicts == {"TC-FD-001": Verdict.PASS, "TC-FD-002": Verdict.PASS}
    assert with_fd(bench, plan).can.options["fd"] is True
    assert with_fd(bench, load_profile(ROOT / "profiles" / "cc-tcu-1.yaml")) is bench
    assert_agrees(evaluate_evidence(load_evidence(out, profile)))


FUZZ_CASE = """
  - id: TC-FD-003
    title: The part keeps its status cycle under CAN FD fuzzing
    requirements: [FD-001]
    steps:
      - fuzz_can:
          id_ranges: [[0x300, 0x30F]]
          dlc: [8, 9, 15]
          fd: true
          order: sweep
          load_percent: 20
          seed: 3
          watch: {message: FD_Status, silence: 200 ms}
        checks:
          - {kind: cycle_time, message: FD_Status, min: 45 ms, max: 55 ms}
"""


def test_fuzzing_sends_fd_frames_of_every_fd_length_with_brs(profile: Path, tmp_path: Path) -> None:
    profile.write_text(PROFILE + FUZZ_CASE, encoding="utf-8")
    plan = load_profile(profile)
    out = tmp_path / "run"
    verdicts = _run(plan, "sim:fd-part", out)
    assert set(verdicts.values()) == {Verdict.PASS}, verdicts
    with can.BLFReader(str(out / "trace.blf")) as reader:
        fuzz = [m for m in reader if 0x300 <= m.arbitration_id <= 0x30F]
    assert len(fuzz) == 16 * 3  # one sweep over every (identifier, DLC) pair
    assert {len(m.data) for m in fuzz} == {8, 12, 64}
    assert all(m.is_fd and m.bitrate_switch and not m.is_extended_id for m in fuzz)
    assert_agrees(evaluate_evidence(load_evidence(out, profile)))


def test_fd_fuzzing_needs_fd_frames(profile: Path) -> None:
    profile.write_text((PROFILE + FUZZ_CASE).replace("          fd: true\n", ""))
    with pytest.raises(ProfileError, match=r"DLC codes \[9, 15\] are CAN FD lengths"):
        load_profile(profile)


def test_fd_fuzzing_on_a_classic_bus_is_refused() -> None:
    tcu = ROOT / "profiles" / "cc-tcu-1.yaml"
    text = tcu.read_text(encoding="utf-8")
    text = text.replace("      - fuzz_can:\n", "      - fuzz_can:\n          fd: true\n", 1)
    with pytest.raises(ProfileError, match=r"fuzz_can.fd: the profile's bus is classic CAN"):
        load_profile_text(text, "tcu.yaml", tcu.parent)


@pytest.mark.parametrize(
    ("extended", "fd", "brs", "esi"),
    [
        (False, False, False, False),
        (True, False, False, False),
        (False, True, False, True),
        (True, True, True, True),
        (False, True, True, False),
    ],
)
def test_each_frame_flag_goes_through_the_port_and_the_trace_as_the_frame_had_it(
    tmp_path: Path, extended: bool, fd: bool, brs: bool, esi: bool
) -> None:
    """A low identifier (0x100) with the 29-bit flag stays 29-bit: the flag decides, not the
    value; ESI (set by the sender's controller) is recorded as received."""
    clock = VirtualClock()
    loop = EventLoop(clock)
    channel = f"flags-{uuid.uuid4().hex[:8]}"
    harness_bus = SimBus(channel, clock=clock)
    part_bus = SimBus(channel)
    log = FrameLog()
    with TraceWriter(tmp_path / "trace.blf") as trace:
        CanPort(loop, harness_bus, log, trace)
        size = 20 if fd else 8
        clock.advance_to(1.0)
        part_bus.send(
            can.Message(
                arbitration_id=0x100,
                is_extended_id=extended,
                is_fd=fd,
                bitrate_switch=brs,
                error_state_indicator=esi,
                data=bytes(range(size)),
            )
        )
        loop.run_until(1.5)
    part_bus.shutdown()
    harness_bus.shutdown()
    flags = frame_flags(extended=extended, fd=fd, brs=brs, esi=esi)
    assert log.rx_flags == [flags] and log.rx_of(0x100).data == [bytes(range(size))]
    back, frames = read_trace(tmp_path / "trace.blf", None)
    assert frames == 1 and back.rx_flags == [flags] and back.rx_bits == log.rx_bits

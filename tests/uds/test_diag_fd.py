"""Diagnostics over CAN FD ISO-TP, from the profile to the evidence.

A small FD part (a DUT provider registered from this test, CC-GW-1's diagnostic addressing:
29-bit normal fixed, padding 0xCC) answers UDS through the simulator's ServerIsoTp in CAN FD
frames of up to 64 bytes with BRS; the profile's ``diagnostics`` declares ``can_fd``,
``tx_data_length`` and ``bitrate_switch``. Its steps pass, the trace keeps the FD and BRS
flags of every diagnostic frame both ways, and offline evaluation agrees. Faulty variants
that answer in FD frames without BRS, or in classic frames, fail the diagnostic step naming
the frame, live and offline. A profile whose diagnostics do not fit their bus is an error at
its place (exit 2). A classic tester reads the FD part; diagnostic fuzz runs over CAN FD.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import can
import pytest

from harness.bench import Bench
from harness.clock import EventLoop, PeriodicTask
from harness.dut import DUTS, DutProvider, DutSetup, Variant
from harness.errors import ProfileError
from harness.offline import evaluate_evidence, load_evidence
from harness.profile.compile import load_profile
from harness.record import Verdict
from harness.session import DutChoice, Session
from harness.sim.isotp_server import ServerIsoTp
from harness.uds.exchange import DiagIds
from tests.conftest import run_harness
from tests.report.conftest import assert_agrees

DBC = Path(__file__).resolve().parents[1] / "can" / "data" / "fd-part.dbc"
STATUS_ID = 0x18FF1020
REQUEST_ID, RESPONSE_ID = 0x18DA10F1, 0x18DAF110
VIN = b"KMHCCGW0000000001"
TABLE = b"".join(i.to_bytes(2, "big") for i in range(0x300, 0x310))  # 32 bytes

PROFILE = """format: cc-harness-profile/1
profile:
  id: fd-diag
  version: 0.1.0
  title: UDS over CAN FD ISO-TP
  requirements: {id: FDD, version: "1", ids: [FDD-001]}
dbc: fd-part.dbc
bus: {fd: true, bitrate: 500000, data_bitrate: 2000000}
dut:
  node: FDPART
  ready: {message: FD_Status}
diagnostics:
  addressing: normal_fixed_29
  target_address: 0x10
  source_address: 0xF1
  padding: 0xCC
  can_fd: true
  tx_data_length: 64
  bitrate_switch: true
cases:
  - id: TC-FDD-001
    title: UDS over CAN FD ISO-TP with BRS, single and multi-frame both ways
    requirements: [FDD-001]
    steps:
      - diag: {request: "3E 00", expect: {data: "7E 00"}}
      - diag: {service: ReadDataByIdentifier, did: 0xF1A2, expect: {prefix: "62 F1 A2 03 00"}}
      - diag:
          request: "22 F1 90"
          expect: {data: "62 F1 90 4B 4D 48 43 43 47 57 30 30 30 30 30 30 30 30 30 31"}
      - diag:
          request: "31 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13"
          expect: {nrc: 0x11}
      - diag: {request: "2E F1 90 LONG", expect: {nrc: 0x11}}
""".replace("LONG", " ".join(["AA"] * 100))  # 103 bytes: first and consecutive frames of 64

VARIANTS = {
    v.name: v
    for v in (
        Variant("no-brs", "FDD-001", "diagnostic answers in CAN FD frames without BRS"),
        Variant("classic-answers", "FDD-001", "diagnostic answers in classic CAN frames"),
        Variant("wrong-nrc", "FDD-001", "NRC 0x31 instead of 0x11 for unsupported services"),
    )
}


class FdDiagPart:
    """Sends FD_Status every 50 ms and answers UDS through ServerIsoTp over CAN FD."""

    def __init__(self, loop: EventLoop, bus: can.BusABC, ids: DiagIds, variant: str | None):
        self.loop = loop
        self.bus = bus
        self.variant = variant
        self.isotp = ServerIsoTp(
            loop,
            self._send,
            self._on_request,
            physical_id=ids.request_id,
            functional_id=ids.functional_id,
            response_id=ids.response_id,
            extended_id=ids.extended_id,
            can_fd=variant != "classic-answers",
            tx_data_length=64 if variant != "classic-answers" else 8,
            bitrate_switch=variant != "no-brs",
            padding=0xCC,
        )
        self._task: PeriodicTask | None = None
        self._reading = False

    @property
    def part(self) -> FdDiagPart:
        return self

    def start(self) -> None:
        if not self._reading:
            self.loop.add_reader(self.bus, self.isotp.on_frame)
            self._reading = True
        self._task = self.loop.every(0.050, self._status, first=self.loop.now())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.isotp.reset()

    def _send(self, msg: can.Message) -> None:
        self.bus.send(msg)

    def _status(self) -> None:
        self.bus.send(
            can.Message(
                arbitration_id=STATUS_ID,
                is_extended_id=True,
                is_fd=True,
                bitrate_switch=True,
                data=bytes(24),
            )
        )

    def _on_request(self, payload: bytes, functional: bool) -> None:
        answer = answer_uds(payload, functional)
        if self.variant == "wrong-nrc" and answer is not None and answer[2:] == b"\x11":
            answer = answer[:2] + b"\x31"
        if answer is not None:
            self.loop.call_later(0.002, lambda: self.isotp.send(answer))


def answer_uds(p: bytes, functional: bool) -> bytes | None:
    """TesterPresent and ReadDataByIdentifier (F190 VIN, F1A2 the routing table); NRCs in the
    order 0x11, 0x12, 0x13, 0x31, none of 0x11, 0x12, 0x31 to a functional request."""
    sid = p[0]
    nrc = None
    if sid not in (0x22, 0x3E):
        nrc = 0x11
    elif sid == 0x3E:
        if len(p) >= 2 and p[1] & 0x7F != 0:
            nrc = 0x12
        elif len(p) != 2:
            nrc = 0x13
        elif p[1] & 0x80:
            return None  # suppressPosRspMsgIndication
        else:
            return b"\x7e\x00"
    elif len(p) < 3 or len(p) % 2 == 0:
        nrc = 0x13
    elif any(p[k : k + 2] not in (b"\xf1\x90", b"\xf1\xa2") for k in range(1, len(p), 2)):
        nrc = 0x31
    elif len(p) > 3:
        nrc = 0x13  # one DID per request
    elif p[1:] == b"\xf1\x90":
        return b"\x62\xf1\x90" + VIN
    elif p[1:] == b"\xf1\xa2":
        return b"\x62\xf1\xa2" + TABLE
    assert nrc is not None  # every request above is answered or refused
    if functional and nrc in (0x11, 0x12, 0x31):
        return None
    return bytes([0x7F, sid, nrc])


class FdDiagProvider(DutProvider):
    name = "fd-diag"
    description = "test part: UDS over CAN FD ISO-TP (normal fixed 29-bit)"
    requirement_set = "FDD"
    variants = VARIANTS

    def build(self, setup: DutSetup) -> FdDiagPart:
        if setup.variant is not None:
            self.variant(setup.variant)
        assert setup.diag is not None
        return FdDiagPart(setup.loop, setup.bus, setup.diag, setup.variant)

    def default_dbc(self) -> Path:
        return DBC


@pytest.fixture(scope="module", autouse=True)
def _provider() -> Iterator[None]:
    DUTS.add("fd-diag", FdDiagProvider(), origin="test")
    try:
        yield
    finally:
        DUTS.unregister("fd-diag")


@pytest.fixture()
def profile(tmp_path: Path) -> Path:
    shutil.copy(DBC, tmp_path / "fd-part.dbc")
    path = tmp_path / "fd-diag.yaml"
    path.write_text(PROFILE, encoding="utf-8")
    return path


def _run(profile: Path, dut: str, out: Path) -> tuple[Verdict, list[str]]:
    plan = load_profile(profile)
    with Session(plan, Bench(), DutChoice.parse(dut), out_dir=out) as s:
        s.run_all()
    (case,) = s.record.cases
    return case.verdict, [c.summary for c in case.checks if c.verdict != Verdict.PASS]


def _diag_frames(out: Path) -> tuple[list[can.Message], list[can.Message]]:
    with can.BLFReader(str(out / "trace.blf")) as reader:
        frames = list(reader)
    return (
        [m for m in frames if m.arbitration_id == REQUEST_ID],
        [m for m in frames if m.arbitration_id == RESPONSE_ID],
    )


def test_fd_diagnostics_pass_and_the_trace_keeps_every_flag(profile: Path, tmp_path: Path) -> None:
    plan = load_profile(profile)
    cfg = plan.diag_config
    assert cfg is not None
    assert (cfg.can_fd, cfg.tx_data_length, cfg.bitrate_switch) == (True, 64, True)
    assert cfg.response_format == "fd_brs"  # the default for an FD tester with BRS
    out = tmp_path / "run"
    verdict, problems = _run(profile, "sim:fd-diag", out)
    assert verdict == Verdict.PASS, problems
    requests, answers = _diag_frames(out)
    assert requests and answers
    for m in (*requests, *answers):
        assert m.is_fd and m.bitrate_switch and m.is_extended_id, m
    assert max(len(m.data) for m in requests) == 64  # the 103-byte request: FF and CF of 64
    assert any(len(m.data) == 24 and m.data[:2] == b"\x00\x14" for m in requests)  # escape SF
    assert max(len(m.data) for m in answers) == 48  # 62 F1 A2 + 32 bytes: one escape SF
    assert all(not m.is_rx for m in requests) and all(m.is_rx for m in answers)
    assert_agrees(evaluate_evidence(load_evidence(out, profile)))


@pytest.mark.parametrize(
    ("variant", "got"),
    [("no-brs", "CAN FD without BRS"), ("classic-answers", "classic CAN")],
)
def test_answers_in_another_format_fail_naming_the_frame(
    profile: Path, tmp_path: Path, variant: str, got: str
) -> None:
    out = tmp_path / "run"
    verdict, problems = _run(profile, f"sim:fd-diag:{variant}", out)
    assert verdict == Verdict.FAIL
    assert len(problems) == 5  # every diagnostic step sees it
    for text in problems:
        assert f"diagnostic frame 0x{RESPONSE_ID:X} [" in text
        assert f"is {got}; diagnostics expect CAN FD with BRS" in text
    _, answers = _diag_frames(out)
    if variant == "no-brs":  # the trace shows it: FD frames, no BRS
        assert answers and all(m.is_fd and not m.bitrate_switch for m in answers)
    evaluation = evaluate_evidence(load_evidence(out, profile))
    assert_agrees(evaluation)  # offline, from the BLF's flags, the same verdicts


def test_a_profile_that_accepts_fd_without_brs_passes_that_part(
    profile: Path, tmp_path: Path
) -> None:
    profile.write_text(PROFILE.replace("  bitrate_switch: true\n", "  response_format: fd\n"))
    verdict, problems = _run(profile, "sim:fd-diag:no-brs", tmp_path / "run")
    assert verdict == Verdict.PASS, problems
    verdict, problems = _run(profile, "sim:fd-diag:classic-answers", tmp_path / "run2")
    assert verdict == Verdict.FAIL and "is classic CAN; diagnostics expect CAN FD" in problems[0]


CLASSIC_BUS = "bus: {fd: false, bitrate: 500000}"
FD_BUS = "bus: {fd: true, bitrate: 500000, data_bitrate: 2000000}"
TCU_DBC = Path(__file__).resolve().parents[2] / "dbc" / "cc-tcu-1.dbc"


def on_classic_bus(text: str) -> str:
    """The profile on a classic bus, with a part whose DBC has classic messages only."""
    return (
        text.replace(FD_BUS, CLASSIC_BUS)
        .replace("dbc: fd-part.dbc", f"dbc: {TCU_DBC}")
        .replace("node: FDPART", "node: TCU")
        .replace("message: FD_Status", "message: TCU_Status")
    )


@pytest.mark.parametrize(
    ("edit", "place", "message"),
    [
        (on_classic_bus, "diagnostics.can_fd", "needs a CAN FD bus"),
        (
            lambda t: t.replace("  tx_data_length: 64", "  tx_data_length: 10"),
            "diagnostics.tx_data_length",
            "64",
        ),
        (
            lambda t: t.replace("  can_fd: true\n", ""),
            "diagnostics.tx_data_length",
            "a longer TX_DL needs can_fd: true",
        ),
        (
            lambda t: t.replace("  can_fd: true\n  tx_data_length: 64\n", ""),
            "diagnostics.bitrate_switch",
            "it needs can_fd: true",
        ),
        (
            lambda t: on_classic_bus(
                t.replace(
                    "  can_fd: true\n  tx_data_length: 64\n  bitrate_switch: true\n",
                    "  response_format: fd_brs\n",
                )
            ),
            "diagnostics.response_format",
            "cannot answer in CAN FD frames on a classic bus",
        ),
        (
            lambda t: t.replace("  bitrate_switch: true", "  bitrate_switch: 1"),
            "diagnostics.bitrate_switch",
            "expected true or false",
        ),
    ],
)
def test_diagnostics_that_do_not_fit_their_bus_are_an_error_at_the_place(
    profile: Path, edit: Callable[[str], str], place: str, message: str
) -> None:
    text = edit(PROFILE)
    assert text != PROFILE
    profile.write_text(text)
    with pytest.raises(ProfileError) as err:
        load_profile(profile)
    rendered = " ".join(str(err.value).split())
    assert "fd-diag.yaml:" in rendered, rendered
    assert place in rendered and message in rendered, rendered
    result = run_harness(["validate", str(profile)])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and place in " ".join(result.stderr.split())


# -- a classic tester and an FD part --------------------------------------------------------------
def test_a_classic_tester_reads_an_fd_part_and_judges_its_format(
    profile: Path, tmp_path: Path
) -> None:
    """The tester on classic ISO-TP (8-byte frames), the part answering in CAN FD with BRS
    as ``response_format`` demands: the steps pass; the variant without BRS fails."""
    profile.write_text(
        PROFILE.replace(
            "  can_fd: true\n  tx_data_length: 64\n  bitrate_switch: true\n",
            "  response_format: fd_brs\n",
        )
    )
    out = tmp_path / "run"
    verdict, problems = _run(profile, "sim:fd-diag", out)
    assert verdict == Verdict.PASS, problems
    requests, answers = _diag_frames(out)
    assert requests and all(not m.is_fd and len(m.data) == 8 for m in requests)
    assert answers and all(m.is_fd and m.bitrate_switch for m in answers)
    verdict, problems = _run(profile, "sim:fd-diag:no-brs", tmp_path / "run2")
    assert verdict == Verdict.FAIL and "is CAN FD without BRS" in problems[0]


ORACLE = """  oracle:
    name: fd-diag
    nrc_order: [0x11, 0x12, 0x13]
    requirements: {unsupported: FDD-001, subfunction: FDD-001, length: FDD-001,
                   malformed: FDD-001}
    services:
      0x22: {name: ReadDataByIdentifier, requirement: FDD-001, length: 3}
      0x3E: {name: TesterPresent, requirement: FDD-001, subfunctions: {0x00: 2},
             suppress: fixed}
    dids:
      0xF190: {name: vin, length: 17}
      0xF1A2: {name: routing_table, length: 32}
"""
FUZZ_CASE = """  - id: TC-FDD-FUZZ
    title: UDS fuzz over CAN FD ISO-TP
    requirements: [FDD-001]
    steps:
      - fuzz_diag: {count: 60, interval: 60 ms, addressing: both, raw_isotp: true,
                    session: keep, seed: 11}
        checks:
          - {kind: diag_fuzz, requirements: [FDD-001]}
"""


@pytest.mark.parametrize(("variant", "verdict"), [(None, Verdict.PASS), ("wrong-nrc", None)])
def test_uds_fuzz_runs_over_can_fd(
    profile: Path, tmp_path: Path, variant: str | None, verdict: Verdict | None
) -> None:
    text = PROFILE.replace("cases:\n", ORACLE + "cases:\n" + FUZZ_CASE)
    profile.write_text(text)
    plan = load_profile(profile)
    out = tmp_path / "run"
    dut = "sim:fd-diag" if variant is None else f"sim:fd-diag:{variant}"
    with Session(plan, Bench(), DutChoice.parse(dut), out_dir=out) as s:
        s.run_all()
    fuzz = next(c for c in s.record.cases if c.case_id == "TC-FDD-FUZZ")
    summaries = [c.summary for c in fuzz.checks]
    if verdict is not None:
        assert fuzz.verdict == verdict, summaries
    else:  # the faulty part: NRC 0x31 for an unsupported service
        assert fuzz.verdict == Verdict.FAIL, summaries
        assert any("0x11" in text for text in summaries), summaries
    requests, _ = _diag_frames(out)
    assert requests and all(m.is_fd and m.bitrate_switch for m in requests)  # the stimuli too

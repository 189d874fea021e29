"""The profile's e2e section names a scheme per message; the rest-bus sends OEM-style frames
(byte-sum checksum + 4-bit counter, nibble checksum) over a python-can ``virtual`` bus that a
receiver written like a production part accepts, and its fault steps corrupt through the
scheme; a bad e2e declaration is a located error with exit 2."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import can
import pytest

from harness.can.e2e import E2EProtection
from harness.can.e2e_oem import ByteSum, NibbleSum
from harness.can.restbus import RestBus
from harness.can.steps import InjectFault
from harness.clock import EventLoop, VirtualClock
from harness.errors import ProfileError
from harness.observe import FrameLog, Window
from harness.profile.compile import Plan, load_profile_text
from harness.record import Verdict
from tests.can.helpers import OEM_DBC, write_dbc

ROOT = Path(__file__).resolve().parents[2]

PROFILE = """format: cc-harness-profile/1
profile:
  id: oem-eps
  version: 0.1.0
  title: A supplier's steering unit, Hyundai-style checksums
  requirements: {id: EPS, version: "1", ids: [EPS-001]}
dbc: oem.dbc
dut:
  node: MDPS
  ready: {message: MDPS12}
e2e:
  LKAS11: {scheme: byte_sum, checksum: CF_Lkas_Chksum, counter: CF_Lkas_MsgCount}
  SCC12:
    scheme: nibble_sum
    checksum: CR_VSM_ChkSum
    counter: CR_VSM_Alive
    final: negate
  MDPS12: {scheme: xor, checksum: CF_Mdps_Chksum2, counter: CF_Mdps_MsgCount2}
  WHL_SPD11: {scheme: counter_only, counter: WHL_SPD_AliveCounter}
restbus:
  LKAS11:
    signals: {CR_Lkas_StrToqReq: 120, CF_Lkas_ActToi: 1}
  SCC12:
    signals: {aReqValue: -1.5, aReqRaw: -1.5}
  WHL_SPD11:
    signals: {WHL_SPD_FL: 50.0, WHL_SPD_FR: 50.0}
cases:
  - id: TC-EPS-001
    title: Steering status counter and checksum
    requirements: [EPS-001]
    steps:
      - inject: {message: LKAS11, fault: crc, count: 3}
      - inject: {message: SCC12, fault: repeat_counter, count: 1}
      - observe: 1 s
        checks:
          - {kind: alive_counter, message: MDPS12}
          - {kind: e2e_crc, message: MDPS12}
          - {kind: alive_counter, message: SCC12, signal: CR_VSM_Alive}
"""


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    write_dbc(tmp_path, "oem.dbc", OEM_DBC)
    return tmp_path


def compile_text(folder: Path, text: str) -> Plan:
    (folder / "p.yaml").write_text(text, encoding="utf-8")
    return load_profile_text(text, "p.yaml", folder)


def test_profile_names_a_scheme_per_message(folder: Path) -> None:
    plan = compile_text(folder, PROFILE)
    assert {name: prot.name for name, prot in plan.e2e.items()} == {
        "LKAS11": "byte_sum",
        "SCC12": "nibble_sum",
        "MDPS12": "xor",
        "WHL_SPD11": "counter_only",
    }
    assert isinstance(plan.e2e["LKAS11"], ByteSum) and isinstance(plan.e2e["SCC12"], NibbleSum)
    assert plan.e2e["SCC12"].describe() == "nibble-sum checksum (4 bits, negate)"
    rest = {r.message.name: r.e2e for r in plan.restbus}
    assert rest["LKAS11"] is plan.e2e["LKAS11"]


def test_cc_tcu_1_profile_is_unchanged() -> None:
    from harness.profile.compile import load_profile

    plan = load_profile(ROOT / "profiles" / "cc-tcu-1.yaml")
    for name in ("VEH_Dynamics", "TCU_Status"):
        prot = plan.e2e[name]
        assert isinstance(prot, E2EProtection) and prot.name == "cc_tcu_1"
        assert prot == plan.dbc.message(name).e2e("AliveCounter", "CRC")


# -- a production-style receiver ---------------------------------------------------------------


def lkas_ok(d: bytes) -> bool:
    """Kia Stinger LKAS11: the sum of bytes 0..5 and 7 in byte 6."""
    return d[6] == (sum(d[:6]) + d[7]) % 256


def scc_ok(d: bytes) -> bool:
    """SCC12: every nibble but the checksum's summed; the checksum is 16 minus that."""
    total = sum((b % 16) + (b // 16) for b in d[:7]) + (d[7] & 0x0F)
    return d[7] >> 4 == (16 - total % 16) % 16


class Receiver:
    """Accepts a frame when its checksum is right and its counter is not the last one."""

    RULES: ClassVar[dict[int, tuple[Callable[[bytes], bool], Callable[[bytes], int]]]] = {
        832: (lkas_ok, lambda d: d[7] >> 4),
        1057: (scc_ok, lambda d: d[7] & 0x0F),
    }

    def __init__(self, bus: can.BusABC) -> None:
        self.bus = bus
        self.log = FrameLog()
        self.accepted: dict[int, list[bytes]] = {832: [], 1057: []}
        self.rejected: dict[int, list[bytes]] = {832: [], 1057: []}
        self._last: dict[int, int] = {}
        self.others = 0
        self.frames = 0

    def read_all(self) -> None:
        while (msg := self.bus.recv(timeout=0.05)) is not None:
            data = bytes(msg.data)
            self.log.add_rx(0.001 * self.frames, msg.arbitration_id, data)  # arrival order
            self.frames += 1
            rule = self.RULES.get(msg.arbitration_id)
            if rule is None:
                self.others += 1
                continue
            ok, counter = rule
            good = ok(data) and counter(data) != self._last.get(msg.arbitration_id)
            (self.accepted if good else self.rejected)[msg.arbitration_id].append(data)
            if good:
                self._last[msg.arbitration_id] = counter(data)


@pytest.fixture()
def buses() -> Iterator[tuple[can.BusABC, can.BusABC]]:
    channel = f"e2e-{uuid.uuid4().hex}"
    tx = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
    rx = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
    try:
        yield tx, rx
    finally:
        tx.shutdown()
        rx.shutdown()


def test_restbus_sends_oem_frames_a_production_receiver_accepts(
    folder: Path, buses: tuple[can.BusABC, can.BusABC]
) -> None:
    plan = compile_text(folder, PROFILE)
    tx, rx = buses
    loop = EventLoop(VirtualClock())

    def send(msg: can.Message) -> float:
        tx.send(msg)
        return loop.now()

    restbus = RestBus(loop, send, plan.restbus)
    receiver = Receiver(rx)
    restbus.start()
    loop.run_for(1.0)
    receiver.read_all()
    assert len(receiver.accepted[832]) == 100 and len(receiver.accepted[1057]) == 50
    assert not receiver.rejected[832] and not receiver.rejected[1057]
    assert receiver.others == 50  # WHL_SPD11: a counter, no checksum
    counters = [d[7] >> 4 for d in receiver.accepted[832]]
    assert counters[:17] == [*range(16), 0]
    # the profile's values are in the frames the receiver accepted
    assert plan.dbc.message("LKAS11").decode(receiver.accepted[832][0])["CR_Lkas_StrToqReq"] == 120

    # The case's fault steps, as the runner applies them: 3 wrong checksums, 1 repeated counter
    case = plan.cases[0]
    for step in case.steps[:2]:
        fault = step.data_as(InjectFault)
        restbus[fault.message.name].inject(fault.fault, fault.count)
    loop.run_for(1.0)
    receiver.read_all()
    assert len(receiver.rejected[832]) == 3 and len(receiver.rejected[1057]) == 1
    assert all(not lkas_ok(d) for d in receiver.rejected[832])
    assert scc_ok(receiver.rejected[1057][0])  # right checksum, its counter repeated
    # the standalone alive-counter check of the case sees the repeat in what was received
    alive = next(c for c in case.steps[2].checks if getattr(c.params, "signal", None))
    log = receiver.log
    verdict = alive.evaluate(Window(0.0, 1.0, log, {}, 500_000))
    assert verdict.verdict is Verdict.FAIL and verdict.measurements["violations"] == 1
    assert "counter" in verdict.offender.detail


# -- errors -------------------------------------------------------------------------------------


def error_of(folder: Path, e2e: str) -> str:
    text = PROFILE.split("e2e:\n")[0] + "e2e:\n" + e2e + "\ncases:" + PROFILE.split("\ncases:")[1]
    with pytest.raises(ProfileError) as info:
        compile_text(folder, text)
    return str(info.value)


@pytest.mark.parametrize(
    ("e2e", "phrases"),
    [
        (
            "  LKAS11: {scheme: autosar_p03, data_id: 1}",
            ["p.yaml:12:", "e2e.LKAS11.scheme", "unknown E2E scheme", "autosar_p01"],
        ),
        (
            "  LKAS11: {scheme: byte_sum, checksum: CF_Lkas_Chksum, countr: X}",
            ["e2e.LKAS11", "unknown key 'countr'", "did you mean 'counter'"],
        ),
        (
            "  LKAS11: {scheme: byte_sum, checksum: Chksum}",
            ["e2e.LKAS11.checksum", "no such signal", "CF_Lkas_Chksum"],
        ),
        (
            "  LKAS11: {scheme: autosar_p01, data_id: '0x10'}",
            ["e2e.LKAS11.data_id", "expected an integer"],
        ),
        (
            "  LKAS11: {scheme: autosar_p04, data_id: 1}",
            ["e2e.LKAS11", "Profile 4 header (12 bytes)", "does not fit"],
        ),
        (
            "  LKAS11: {scheme: autosar_p05, data_id: 1, length: 9}",
            ["e2e.LKAS11.length", "a length from 3 to 8", "got '9'"],
        ),
        (
            "  SCC12: {scheme: counter_only, counter: CR_VSM_Alive, counter_max: 16}",
            ["e2e.SCC12.counter", "0 <= min < max <= 15"],
        ),
        (
            "  LKAS11: {scheme: byte_sum, checksum: CF_Lkas_Chksum, counter: CF_Lkas_Chksum}",
            ["e2e.LKAS11.counter", "share bits"],
        ),
        (
            "  LKAS11: {counter: CF_Lkas_MsgCount, crc: CF_Lkas_FcwOpt}",
            ["e2e.LKAS11.crc", "8-bit byte-aligned"],
        ),
    ],
)
def test_bad_e2e_declarations_are_located(folder: Path, e2e: str, phrases: list[str]) -> None:
    message = error_of(folder, e2e)
    for phrase in phrases:
        assert phrase in message, message


def test_a_fault_the_scheme_cannot_show_is_refused(folder: Path) -> None:
    text = PROFILE.replace(
        "inject: {message: LKAS11, fault: crc, count: 3}",
        "inject: {message: WHL_SPD11, fault: crc, count: 3}",
    )
    with pytest.raises(ProfileError, match="has no checksum to corrupt"):
        compile_text(folder, text)


def test_validate_exits_2_naming_the_place(folder: Path) -> None:
    text = PROFILE.replace("scheme: nibble_sum", "scheme: nibble_summ")
    (folder / "bad.yaml").write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "validate", str(folder / "bad.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "e2e.SCC12.scheme" in done.stderr and "Traceback" not in done.stderr
    assert "nibble_sum" in done.stderr


def test_a_lab_scheme_validates_and_runs_like_a_built_in_one(folder: Path) -> None:
    """A scheme registered after import (as an entry point would) is used by the profile."""
    from pydantic import Field

    from harness.can.e2e import E2E_SCHEMES, SchemeParams, signal_field
    from harness.can.e2e_oem import ChecksumProtection

    class AddressedParams(SchemeParams):
        checksum: str = Field(description="checksum signal")

    class AddressedSum(ChecksumProtection):
        """Toyota-style: the byte sum plus the identifier's bytes and the length."""

        Params = AddressedParams
        what = "addressed-sum"

        @classmethod
        def build(cls, params: SchemeParams, msg: object) -> ChecksumProtection:
            assert isinstance(params, AddressedParams)
            field = signal_field(msg, "checksum", params.checksum)  # type: ignore[arg-type]
            fid, size = msg.frame_id, msg.length  # type: ignore[attr-defined]
            init = (fid & 0xFF) + (fid >> 8) + size
            return cls(field, None, tuple(range(size)), init, "none")

        def fold(self, data: bytes, init: int) -> int:
            return init + sum(data)

    E2E_SCHEMES.register("addressed_sum", AddressedSum)
    try:
        text = PROFILE.replace(
            "MDPS12: {scheme: xor, checksum: CF_Mdps_Chksum2, counter: CF_Mdps_MsgCount2}",
            "MDPS12: {scheme: addressed_sum, checksum: CF_Mdps_Chksum2}",
        ).replace("          - {kind: alive_counter, message: MDPS12}\n", "")
        plan = compile_text(folder, text)
        prot = plan.e2e["MDPS12"]
        assert prot.name == "addressed_sum" and prot.alive is None
        sealed = prot.protect(bytes(range(8)), 0)
        assert sealed[3] == (0x81 + 0x03 + 8 + sum(sealed) - sealed[3]) % 256
        with pytest.raises(ProfileError, match="unknown key 'counter'"):
            compile_text(
                folder, text.replace("checksum: CF_Mdps_Chksum2}", "checksum: X, counter: Ctr}")
            )
    finally:
        E2E_SCHEMES.unregister("addressed_sum")

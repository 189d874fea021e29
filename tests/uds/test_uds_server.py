"""The reference TCU's UDS server on the virtual clock, through the tester's own ISO-TP.

Each test puts the TCU and a tester (can-isotp logic on a recording CanPort, as in a
certification run) on one ``harness_sim`` channel, so the server is judged only by what it
sends on the bus.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from harness.can.dbc import load_dbc
from harness.can.port import CanPort
from harness.clock import EventLoop, VirtualClock
from harness.observe import FrameLog
from harness.sim.tcu import ReferenceTcu
from harness.uds.client import Outcome, UdsClient
from harness.uds.config import DiagConfig
from harness.uds.exchange import DiagIds, exchanges
from harness.uds.seedkey import cc_tcu_1_key

DBC = Path(__file__).resolve().parents[2] / "dbc" / "cc-tcu-1.dbc"
_channels = itertools.count()


class Bench:
    def __init__(self, variant: str | None = None, config: DiagConfig | None = None) -> None:
        channel = f"uds-test-{next(_channels)}"
        self.clock = VirtualClock()
        self.loop = EventLoop(self.clock)
        self.bus = can.Bus(interface="harness_sim", channel=channel, clock=self.clock)
        self.dut_bus = can.Bus(interface="harness_sim", channel=channel)
        self.log = FrameLog()
        self.port = CanPort(self.loop, self.bus, self.log)
        self.tcu = ReferenceTcu(self.loop, self.dut_bus, load_dbc(DBC), variant=variant)
        self.client = UdsClient(self.loop, self.port, config or DiagConfig())
        self.tcu.start()
        self.loop.run_for(0.05)

    def close(self) -> None:
        self.tcu.stop()
        self.bus.shutdown()
        self.dut_bus.shutdown()

    def ask(self, hexbytes: str, *, functional: bool = False, expect: bool = True) -> Outcome:
        return self.client.exchange(
            bytes.fromhex(hexbytes), functional=functional, expect_response=expect
        )

    def answer(self, hexbytes: str, *, functional: bool = False) -> str | None:
        """The final response as hex ('7F 22 31'), None when there was none."""
        out = self.ask(hexbytes, functional=functional)
        return None if out.final is None else out.final.payload.hex(" ").upper()

    def unlock(self) -> None:
        assert self.answer("10 03") == "50 03 00 32 01 F4"
        seed = bytes.fromhex(self.answer("27 01") or "")[2:]
        assert len(seed) == 4 and all(seed)
        assert self.answer("27 02 " + cc_tcu_1_key(seed).hex()) == "67 02"


@pytest.fixture
def bench() -> Iterator[Bench]:
    b = Bench()
    yield b
    b.close()


def test_identity_dids_read_back(bench: Bench) -> None:
    vin = bench.answer("22 F1 90")
    assert vin == "62 F1 90 " + b"KMHCC00TCU1000001".hex(" ").upper()
    assert bench.answer("22 F1 A0") == "62 F1 A0 0C 0F FE E1"
    assert bench.answer("22 F1 89") == "62 F1 89 " + b"CCTCU-1.0.0".hex(" ").upper()
    # several DIDs in one (multi-frame) request, answered in one multi-frame response
    both = bench.answer("22 F1 8C F1 A0 F1 99 F1 90")
    assert both is not None and both.startswith("62 F1 8C") and "F1 A0 0C 0F FE E1 F1 90" in both


@pytest.mark.parametrize(("block_size", "flow_controls"), [(0, 1), (1, 2)])
def test_multi_frame_response_is_paced_by_the_testers_flow_control(
    block_size: int, flow_controls: int
) -> None:
    b = Bench(config=DiagConfig(block_size=block_size, stmin=5))
    try:
        out = b.ask("22 F1 90")
        assert out.final is not None and len(out.final.payload) == 20 and out.final.frames == 3
        rx = b.log.rx_of(0x7E8)
        tx = b.log.tx_of(0x7E0)
        assert [d[0] >> 4 for d in rx.data] == [1, 2, 2]  # first + 2 consecutive frames
        assert [d[0] >> 4 for d in tx.data] == [0] + [3] * flow_controls
        assert all(len(d) == 8 for d in (*rx.data, *tx.data))  # both sides pad to 8 bytes
        if block_size == 0:  # STmin 5 ms between consecutive frames
            assert rx.ts[2] - rx.ts[1] == pytest.approx(0.005)
    finally:
        b.close()


@pytest.mark.parametrize(
    ("setup", "request_hex", "response"),
    [
        ([], "BA", "7F BA 11"),
        ([], "10", "7F 10 13"),
        ([], "10 05 00", "7F 10 12"),  # 0x12 before 0x13
        ([], "27 05", "7F 27 12"),  # 0x12 before 0x7F
        ([], "27 01 00", "7F 27 7F"),  # 0x7F before 0x13
        ([], "27 01", "7F 27 7F"),
        ([], "2E F1 A0 01 02 03 04", "7F 2E 7F"),
        (["10 03"], "2E F1", "7F 2E 13"),
        (["10 03"], "2E F1 90 41", "7F 2E 31"),  # read-only before length
        (["10 03"], "2E F1 A0 01 02", "7F 2E 13"),  # length before security
        (["10 03"], "2E F1 A0 01 02 03 04", "7F 2E 33"),
        ([], "22 F1", "7F 22 13"),
        ([], "22 F1 99", "7F 22 31"),
        ([], "3E 00 00", "7F 3E 13"),
        ([], "3E 01", "7F 3E 12"),
        ([], "19 01 FF", "7F 19 12"),
        ([], "19 02", "7F 19 13"),
        ([], "14 FF FF 00", "7F 14 31"),
        ([], "14 FF FF", "7F 14 13"),
        ([], "11 02", "7F 11 12"),
        (["10 03"], "27 02 11 22 33 44", "7F 27 24"),
    ],
)
def test_negative_responses_in_the_pages_order(
    bench: Bench, setup: list[str], request_hex: str, response: str
) -> None:
    for req in setup:
        assert bench.answer(req) is not None
    assert bench.answer(request_hex) == response


@pytest.mark.parametrize(
    ("request_hex", "response"),
    [
        ("BA", None),  # 0x11
        ("3E 01", None),  # 0x12
        ("22 F1 99", None),  # 0x31
        ("27 01", None),  # 0x7F
        ("3E 00 00", "7F 3E 13"),  # other NRCs are answered
        ("3E 00", "7E 00"),
        ("3E 80", None),  # suppressed
    ],
)
def test_functional_requests_never_get_the_nrcs_iso_14229_excludes(
    bench: Bench, request_hex: str, response: str | None
) -> None:
    assert bench.answer(request_hex, functional=True) == response


def test_wrong_key_length_leaves_the_seed_pending(bench: Bench) -> None:
    assert bench.answer("10 03") is not None
    seed = bytes.fromhex(bench.answer("27 01") or "")[2:]
    assert bench.answer("27 02 00 00") == "7F 27 13"
    assert bench.answer("27 02 " + cc_tcu_1_key(seed).hex()) == "67 02"
    assert bench.answer("27 01") == "67 01 00 00 00 00"  # unlocked: zero seed
    assert bench.answer("2E F1 A0 0A 0B 0C 0D") == "6E F1 A0"
    assert bench.answer("22 F1 A0") == "62 F1 A0 0A 0B 0C 0D"


def test_three_wrong_keys_lock_seed_requests_out_for_10_s(bench: Bench) -> None:
    assert bench.answer("10 03") is not None
    for want in ("7F 27 35", "7F 27 35", "7F 27 36"):
        assert (bench.answer("27 01") or "").startswith("67 01")
        assert bench.answer("27 02 00 00 00 00") == want
    start = bench.loop.now()
    assert bench.answer("27 01") == "7F 27 37"
    assert bench.answer("27 02 11 22 33 44") == "7F 27 24"
    for t in (4.0, 8.0):
        bench.loop.run_until(start + t)
        assert bench.answer("3E 00") == "7E 00"  # keeps the extended session (S3)
    bench.loop.run_until(start + 9.9)
    assert bench.answer("27 01") == "7F 27 37"
    bench.loop.run_until(start + 10.1)
    seed = bytes.fromhex(bench.answer("27 01") or "")[2:]
    assert any(seed)
    assert bench.answer("27 02 " + cc_tcu_1_key(seed).hex()) == "67 02"


def test_s3_falls_back_to_default_and_relocks(bench: Bench) -> None:
    bench.unlock()
    bench.loop.run_for(4.9)
    assert bench.answer("27 01") == "67 01 00 00 00 00"  # restarts S3
    bench.loop.run_for(5.1)
    assert bench.answer("27 01") == "7F 27 7F"
    assert bench.tcu.uds.session == 0x01 and not bench.tcu.uds.unlocked


def test_dtc_status_follows_the_fault_and_confirmed_survives_a_reset(bench: Bench) -> None:
    tcu = bench.tcu
    tcu.fault_veh_data_timeout = False  # no vehicle data here: only the flags set by hand
    assert bench.answer("14 FF FF FF") == "54"
    assert bench.answer("19 02 FF") == "59 02 09"
    tcu.fault_veh_data_invalid = True
    assert bench.answer("19 02 FF") == "59 02 09 C1 21 00 09"
    tcu.fault_veh_data_invalid = False
    assert bench.answer("19 02 01") == "59 02 09"
    assert bench.answer("19 02 08") == "59 02 09 C1 21 00 08"
    assert bench.answer("11 01") == "51 01"
    bench.loop.run_for(1.0)  # the restart clears the flag; the DTC stays confirmed
    assert "C1 21 00 08" in (bench.answer("19 02 FF") or "")
    tcu.fault_veh_data_timeout = False
    assert bench.answer("14 FF FF FF") == "54"
    assert bench.answer("19 02 FF") == "59 02 09"


def test_ecu_reset_is_silent_500_ms_then_a_power_up(bench: Bench) -> None:
    bench.unlock()
    assert bench.answer("2E F1 A0 0A 0B 0C 0D") == "6E F1 A0"
    assert bench.tcu.identity.station_id == 0x0C0FFEE1  # effective after the next reset
    out = bench.ask("11 01")
    assert out.final is not None and out.final.payload == b"\x51\x01"
    answered = out.final.last
    bench.loop.run_for(1.0)
    after = [t for t in bench.log.rx_all.ts if t > answered]
    assert after and after[0] - answered == pytest.approx(0.5)
    assert bench.tcu.identity.station_id == 0x0A0B0C0D
    assert bench.answer("27 01") == "7F 27 7F"  # default session after the restart
    assert bench.answer("22 F1 A0") == "62 F1 A0 0A 0B 0C 0D"


def test_tester_present_suppressed_and_not() -> None:
    for variant, want in ((None, None), ("tester-present-not-suppressed", "7E 00")):
        b = Bench(variant)
        try:
            assert b.answer("3E 80") == want
            assert b.answer("3E 80", functional=True) == want
        finally:
            b.close()


def test_a_silent_request_is_timed_out_on_the_virtual_clock(bench: Bench) -> None:
    bench.tcu.stop()
    start = bench.loop.now()
    out = bench.ask("22 F1 90")
    assert out.responses == [] and out.final is None
    assert bench.loop.now() - start == pytest.approx(1.0)  # the tester timeout, no wall time
    ex = exchanges(bench.log, start, bench.loop.now(), DiagIds())
    assert len(ex) == 1 and ex[0].responses == ()

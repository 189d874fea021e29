"""UDS and silence checks are pure evaluators of recorded frames: exact verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from harness.can.dbc import load_dbc
from harness.checks import Resolver
from harness.checks.can_silence import SilenceCheck, SilenceParams
from harness.checks.uds import UdsResponseCheck, UdsResponseParams
from harness.checks.uds_services import (
    DtcExpect,
    UdsDtcCheck,
    UdsDtcParams,
    UdsSecurityAccessCheck,
    UdsSecurityParams,
)
from harness.errors import ProfileError
from harness.observe import FrameLog, Window
from harness.record import Verdict
from harness.uds.exchange import DiagIds, exchanges, transfers
from harness.uds.seedkey import cc_tcu_1_key
from tests.conftest import DBC

REQ, RESP = 0x7E0, 0x7E8


def resolver() -> Resolver:
    def error(path: Any, **kw: Any) -> ProfileError:
        return ProfileError(str(path), **{k: v for k, v in kw.items() if k != "message"})

    return Resolver(load_dbc(DBC), {}, [], error, (), [])


def sf(payload: str) -> bytes:
    body = bytes.fromhex(payload)
    return (bytes([len(body)]) + body).ljust(8, b"\xcc")


def response_check(**kw: Any) -> UdsResponseCheck:
    params = UdsResponseParams.model_validate({"kind": "uds_response", **kw})
    return UdsResponseCheck(params, resolver())


def window(log: FrameLog, t0: float = 0.0, t1: float = 10.0) -> Window:
    return Window(t0, t1, log, {}, 500000)


def test_reassembly_skips_noise_and_flow_control() -> None:
    log = FrameLog()
    log.add_rx(1.000, RESP, bytes.fromhex("10 14 62 F1 90 4B 4D 48"))
    log.add_rx(1.001, RESP, bytes(8))  # an empty single frame: no ISO-TP
    log.add_rx(1.002, RESP, bytes.fromhex("21 43 43 30 30 54 43 55"))
    log.add_rx(1.003, RESP, bytes.fromhex("22 31 30 30 30 30 30 31"))
    got = transfers(log.rx_of(RESP), 0.0, 2.0, RESP)
    assert len(got) == 1
    assert got[0].payload == bytes.fromhex("62 F1 90") + b"KMHCC00TCU1000001"
    assert (got[0].first, got[0].last, got[0].frames) == (1.000, 1.003, 3)


def test_a_response_at_the_instant_of_the_next_request_is_the_earlier_ones() -> None:
    log = FrameLog()
    log.add_tx(1.000, REQ, sf("3E 00"))
    log.add_rx(1.002, RESP, sf("7E 00"))
    log.add_tx(1.002, REQ, sf("3E 80"))  # sent the moment the answer was in
    first, second = exchanges(log, 0.0, 2.0, DiagIds())
    assert [r.payload for r in first.responses] == [b"\x7e\x00"]
    assert second.responses == ()


def test_response_time_is_judged_against_p2_from_frame_timestamps() -> None:
    log = FrameLog()
    log.add_tx(1.000, REQ, sf("22 F1 A0"))
    log.add_rx(1.080, RESP, sf("62 F1 A0 0C 0F FE E1"))
    result = response_check(request="22 F1 A0", expect={"prefix": "62 F1 A0"}).evaluate(window(log))
    assert result.verdict is Verdict.FAIL
    assert "first response (positive 62 F1 A0 0C 0F FE E1) after 80.000 ms, P2 is 50.000 ms" in (
        result.summary
    )
    assert result.measurements["response_time"] == pytest.approx(0.080)
    assert result.offender is not None and result.offender.timestamp == 1.080


def test_response_pending_extends_to_p2_star() -> None:
    log = FrameLog()
    log.add_tx(1.000, REQ, sf("22 F1 A0"))
    log.add_rx(1.010, RESP, sf("7F 22 78"))
    log.add_rx(4.000, RESP, sf("62 F1 A0 0C 0F FE E1"))
    check = response_check(request="22 F1 A0", expect={"data": "62 F1 A0 0C 0F FE E1"})
    result = check.evaluate(window(log))
    assert result.verdict is Verdict.PASS, result.summary
    assert result.measurements["pending"] == 1
    log.add_tx(5.000, REQ, sf("22 F1 A0"))
    log.add_rx(5.010, RESP, sf("7F 22 78"))
    log.add_rx(10.5, RESP, sf("62 F1 A0 0C 0F FE E1"))
    late = check.evaluate(window(log, 5.0, 11.0))
    assert late.verdict is Verdict.FAIL and "P2* is 5.000 s" in late.summary


def test_no_response_names_the_request_and_the_timeout() -> None:
    log = FrameLog()
    log.add_tx(1.000, REQ, sf("22 F1 90"))
    result = response_check(request="22 F1 90", timeout=1.0).evaluate(window(log, 0.9, 2.0))
    assert result.verdict is Verdict.FAIL
    assert result.summary == (
        "no response to 22 F1 90 (ReadDataByIdentifier), physical within 1.000 s "
        "(tester timeout 1.000 s, P2 50.000 ms) with normal_11 addressing (11-bit request "
        "0x7E0, functional 0x7DF, response 0x7E8): check diagnostics.addressing"
    )


def test_expect_none_fails_on_any_answer_and_names_it() -> None:
    log = FrameLog()
    log.add_tx(1.000, 0x7DF, sf("3E 80"))
    log.add_rx(1.002, RESP, sf("7E 00"))
    check = response_check(request="3E 80", functional=True, expect="none")
    result = check.evaluate(window(log))
    assert result.verdict is Verdict.FAIL
    assert "was answered (positive 7E 00) after 2.000 ms; expected no response" in result.summary


def test_a_missing_request_is_an_error_not_a_pass() -> None:
    result = response_check(request="22 F1 90").evaluate(window(FrameLog()))
    assert result.verdict is Verdict.ERROR


def test_security_access_recomputes_the_key_from_the_recorded_seed() -> None:
    seed = bytes.fromhex("11 22 33 44")
    log = FrameLog()
    log.add_tx(1.000, REQ, sf("27 01"))
    log.add_rx(1.002, RESP, sf("67 01 11 22 33 44"))
    log.add_tx(1.002, REQ, sf("27 02 " + cc_tcu_1_key(seed).hex()))
    log.add_rx(1.004, RESP, sf("67 02"))
    params = UdsSecurityParams.model_validate(
        {"kind": "uds_security_access", "algorithm": "cc-tcu-1"}
    )
    result = UdsSecurityAccessCheck(params, resolver()).evaluate(window(log))
    assert result.verdict is Verdict.PASS, result.summary
    assert result.measurements["key"] == "70 E1 A5 DA"
    # a key that is not the algorithm's is the tester's fault: ERROR, never PASS
    log2 = FrameLog()
    log2.add_tx(1.000, REQ, sf("27 01"))
    log2.add_rx(1.002, RESP, sf("67 01 11 22 33 44"))
    log2.add_tx(1.002, REQ, sf("27 02 00 00 00 00"))
    log2.add_rx(1.004, RESP, sf("67 02"))
    assert UdsSecurityAccessCheck(params, resolver()).evaluate(window(log2)).verdict is (
        Verdict.ERROR
    )


def test_dtc_check_reads_status_bits_with_udsoncan() -> None:
    log = FrameLog()
    log.add_tx(1.000, REQ, sf("19 02 FF"))
    log.add_rx(1.002, RESP, sf("59 02 09 C1 22 00 08"))
    params = UdsDtcParams.model_validate(
        {
            "kind": "uds_dtcs",
            "status_mask": 0xFF,
            "availability": 0x09,
            "dtcs": [
                {"dtc": 0xC12200, "set": [3], "clear": [0]},
                {"dtc": 0xC12100, "absent": True},
            ],
        }
    )
    result = UdsDtcCheck(params, resolver()).evaluate(window(log))
    assert result.verdict is Verdict.PASS, result.summary
    assert result.measurements["dtcs"] == {"C12200": "0x08"}
    strict = params.model_copy(update={"dtcs": [DtcExpect(dtc=0xC12200, status=0x09)]})
    failed = UdsDtcCheck(strict, resolver()).evaluate(window(log))
    assert failed.verdict is Verdict.FAIL
    assert failed.summary == "C12200 status 0x08, expected 0x09"


def test_silence_check_judges_the_gap_after_a_marker() -> None:
    def run(gap: float) -> tuple[Verdict, str]:
        log = FrameLog()
        log.add_rx(1.000, RESP, sf("51 01"))
        log.add_rx(1.000 + gap, 0x3A0, bytes(8))
        params = SilenceParams.model_validate(
            {"kind": "silence", "after": "reset", "min": 0.4, "max": 0.6}
        )
        res = Resolver(load_dbc(DBC), {}, ["reset"], resolver()._error, (), [])
        result = SilenceCheck(params, res).evaluate(Window(1.0, 3.0, log, {"reset": 1.0}, 500000))
        return result.verdict, result.summary

    assert run(0.5) == (Verdict.PASS, "next frame (0x3A0) 500.000 ms after reset")
    assert run(0.2)[0] is Verdict.FAIL
    assert run(0.9)[0] is Verdict.FAIL
    assert run(5.0)[0] is Verdict.FAIL  # nothing until the window ends, 2 s later

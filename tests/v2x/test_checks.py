"""V2X checks evaluated on hand-made MQTT logs (no broker, no simulator)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.checks.base import Check
from harness.errors import ProfileError
from harness.mqtt.codec import load_asn1
from harness.mqtt.log import MqttLog
from harness.observe import FrameLog, Window
from harness.plan import Plan
from harness.profile.compile import load_profile_text
from harness.record import Verdict
from tests.conftest import ROOT

PROFILE = f"""
format: cc-harness-profile/1
profile:
  id: v2x-checks
  version: 1.0.0
  title: checks
  requirements: {{id: T, version: "1", ids: [R-001]}}
dbc: {ROOT / "dbc" / "cc-tcu-1.dbc"}
dut: {{node: TCU, ready: {{message: TCU_Status}}}}
e2e:
  VEH_Dynamics: {{counter: AliveCounter, crc: CRC}}
restbus:
  VEH_Dynamics: {{signals: {{VehicleSpeed: 0}}}}
identity:
  station_id: {{did: 0xF1A0, format: hex}}
mqtt:
  asn1: {ROOT / "dbc" / "ccv2x.asn"}
  topics:
    bsm: {{topic: "v2x/bsm/{{station_id}}", codec: uper, type: BasicSafetyMessage}}
    status: {{topic: "v2x/status/{{station_id}}", codec: text}}
cases:
  - id: C
    title: c
    requirements: [R-001]
    steps:
      - {{wait: 1 s, name: mark}}
    checks:
CHECKS
"""

BSM: dict[str, Any] = {
    "msgCnt": 0,
    "id": b"\x0c\x0f\xfe\xe1",
    "secMark": 0,
    "lat": 1,
    "long": 2,
    "elev": 3,
    "speed": 100,
    "heading": 4,
    "accelLong": 0,
    "brakeApplied": False,
    "events": (b"\x00", 2),
}


def compile_checks(*checks: str) -> tuple[Plan, list[Check]]:
    text = PROFILE.replace("CHECKS", "\n".join(f"      - {c}" for c in checks))
    plan = load_profile_text(text, "t.yaml", ROOT / "profiles")
    return plan, list(plan.cases[0].checks)


def bsm_log(times: list[float], **fields: Any) -> MqttLog:
    module = load_asn1(str(ROOT / "dbc" / "ccv2x.asn"))
    from harness.mqtt.codec import UperCodec

    codec = UperCodec(module, "BasicSafetyMessage")
    log = MqttLog({"station_id": "0C0FFEE1"})
    for n, t in enumerate(times):
        value = dict(BSM, msgCnt=n % 128, secMark=round(t * 1000) % 60000)
        for k, v in fields.items():
            value[k] = v(n) if callable(v) else v
        payload = module.encode("BasicSafetyMessage", value)
        decoded, error = codec.decode(payload)
        log.add_rx("bsm", t, "v2x/bsm/0C0FFEE1", payload, 0, False, decoded, error)
    return log


def window(
    log: MqttLog,
    t0: float,
    t1: float,
    frames: FrameLog | None = None,
    markers: dict[str, float] | None = None,
) -> Window:
    return Window(t0, t1, frames or FrameLog(), markers or {"mark": t0}, 500000, mqtt=log)


def verdict(check: Check, w: Window) -> Verdict:
    return check.evaluate(w).verdict


def test_interval_and_sliding_mean() -> None:
    _, (check,) = compile_checks(
        "{kind: mqtt_interval, topic: bsm, min: 80 ms, max: 120 ms, mean: [95 ms, 105 ms],"
        " mean_over: 2 s}"
    )
    good = bsm_log([0.1 * k for k in range(40)])
    assert verdict(check, window(good, 0, 3.95)) is Verdict.PASS
    # every gap 110 ms: each interval allowed, the mean is not
    slow = bsm_log([0.11 * k for k in range(40)])
    result = check.evaluate(window(slow, 0, 4.3))
    assert result.verdict is Verdict.FAIL and "mean" in result.summary
    gap = bsm_log([0.1 * k for k in range(10)] + [1.3 + 0.1 * k for k in range(10)])
    assert verdict(check, window(gap, 0, 2.2)) is Verdict.FAIL
    # silence at the end counts
    assert verdict(check, window(good, 0, 5.0)) is Verdict.FAIL


def test_counter_wraps_at_128_and_catches_a_skip() -> None:
    _, (check,) = compile_checks("{kind: mqtt_counter, topic: bsm, field: msgCnt, modulus: 128}")
    log = bsm_log([0.1 * k for k in range(300)])
    assert verdict(check, window(log, 0, 30)) is Verdict.PASS
    skip = bsm_log([0.1 * k for k in range(20)], msgCnt=lambda n: (2 * n) % 128)
    result = check.evaluate(window(skip, 0, 2))
    assert result.verdict is Verdict.FAIL and "0 -> 2" in result.summary


def test_field_conditions_identity_and_bits() -> None:
    _, checks = compile_checks(
        "{kind: mqtt_field, topic: bsm, where: {id: $station_id, speed: {max: 8190}}}",
        "{kind: mqtt_field, topic: bsm, where: {events.hardBraking: true}}",
    )
    log = bsm_log([0.1, 0.2], events=(b"\x80", 2))
    assert [verdict(c, window(log, 0, 1)) for c in checks] == [Verdict.PASS, Verdict.PASS]
    log = bsm_log([0.1, 0.2], events=(b"\x40", 2), speed=8191)
    assert [verdict(c, window(log, 0, 1)) for c in checks] == [Verdict.FAIL, Verdict.FAIL]
    assert "'speed': 8191" in checks[0].evaluate(window(log, 0, 1)).summary  # names the BSM


def test_a_payload_that_did_not_decode_fails_the_check() -> None:
    _, (check,) = compile_checks("{kind: mqtt_field, topic: bsm, where: {speed: 100}}")
    log = bsm_log([0.1])
    log.add_rx("bsm", 0.2, "v2x/bsm/0C0FFEE1", b"\x00", 0, False, None, "OutOfDataError: x")
    result = check.evaluate(window(log, 0, 1))
    assert result.verdict is Verdict.FAIL and "did not decode" in result.summary


def test_latency_absent_count_and_retain() -> None:
    _, checks = compile_checks(
        "{kind: mqtt_latency, topic: status, from: mark, where: {'.': online}, retain: true,"
        " within: 200 ms}",
        "{kind: mqtt_absent, topic: status, where: {'.': offline}}",
        "{kind: mqtt_count, topic: status, min: 2, max: 2}",
    )
    log = MqttLog()
    log.add_rx("status", 1.05, "v2x/status/X", b"online", 1, False, "online")
    log.add_rx("status", 1.15, "v2x/status/X", b"online", 1, True, "online")
    w = window(log, 1.0, 2.0)
    assert [verdict(c, w) for c in checks] == [Verdict.PASS, Verdict.PASS, Verdict.PASS]
    late = MqttLog()
    late.add_rx("status", 1.5, "v2x/status/X", b"offline", 1, True, "offline")
    w = window(late, 1.0, 2.0)
    assert [verdict(c, w) for c in checks] == [Verdict.FAIL, Verdict.FAIL, Verdict.FAIL]
    # the latency failure names what the part sent instead
    summary = checks[0].evaluate(w).summary
    assert summary == (
        "no matching status message within 1.000 s (1 other(s), the last: 'offline' (retained))"
    )
    # nothing yet, and the window ended before the limit: inconclusive, not a pass
    assert verdict(checks[0], window(MqttLog(), 1.0, 1.1)) is Verdict.INCONCLUSIVE


def test_secmark_uses_utc_of_arrival_with_wrap() -> None:
    _, (check,) = compile_checks("{kind: v2x_secmark, topic: bsm}")
    log = bsm_log([59.95, 60.02], secMark=lambda n: [59950, 20][n])
    assert verdict(check, window(log, 59, 61)) is Verdict.PASS
    off = bsm_log([10.0], secMark=10200)
    assert verdict(check, window(off, 9, 11)) is Verdict.FAIL


SPEED_FIELD = (
    "{kind: v2x_field, topic: bsm, field: speed, message: VEH_Dynamics,"
    " signal: VehicleSpeed, factor: 0.1388888889, tolerance: 1, range: [0, 8190],"
    " unavailable: 8191}"
)


def _speed_field() -> tuple[Check, FrameLog, Callable[..., None]]:
    """The BSM speed check against VEH_Dynamics, the frame log it reads, and a sender of
    protected VEH_Dynamics frames into it (``good=False``: a wrong CRC)."""
    plan, (check,) = compile_checks(SPEED_FIELD)
    msg = plan.dbc.message("VEH_Dynamics")
    e2e = plan.e2e["VEH_Dynamics"]
    frames = FrameLog()

    def send(t: float, kmh: float, counter: int, good: bool = True) -> None:
        signals = {"VehicleSpeed": kmh, "LongAccel": 0, "BrakePedal": 0}
        data = bytearray(e2e.protect(msg.encode({**signals, "AliveCounter": 0, "CRC": 0}), counter))
        if not good:
            data[7] ^= 0xFF
        frames.add_tx(t, msg.frame_id, bytes(data))

    return check, frames, send


def test_v2x_field_follows_the_newest_valid_frame() -> None:
    check, frames, send = _speed_field()
    send(0.0, 50.0, 1)
    send(1.0, 100.0, 2)
    send(2.0, 200.0, 3, good=False)  # a wrong CRC: not an input
    speeds = {0.5: 694, 1.05: 694, 1.2: 1389, 2.5: 1389}
    log = bsm_log(list(speeds), speed=lambda n: list(speeds.values())[n])
    assert verdict(check, window(log, 0, 3, frames)) is Verdict.PASS
    wrong = bsm_log([2.5], speed=2778)  # took the invalid frame
    assert verdict(check, window(wrong, 0, 3, frames)) is Verdict.FAIL
    stale = bsm_log([1.2], speed=694)  # still the old value 200 ms after the change
    assert verdict(check, window(stale, 0, 3, frames)) is Verdict.FAIL


def test_v2x_field_input_after_a_long_history_skips_a_repeated_counter() -> None:
    """Late in a run the newest valid input is still the first of frames repeating one alive
    counter, not the newest of them, and a frame with a wrong CRC between does not count."""
    check, frames, send = _speed_field()
    for n in range(300):  # 30 s of history, every counter in turn
        send(n * 0.1, 10.0, n % 15)
    send(30.0, 50.0, 3)
    send(30.2, 100.0, 3)  # the same counter again: not an input
    send(30.4, 200.0, 4, good=False)  # a wrong CRC: not an input
    send(30.6, 200.0, 4)
    send(30.8, 100.0, 4)  # the counter of the frame before: not an input
    assert verdict(check, window(bsm_log([30.5], speed=694), 30, 31, frames)) is Verdict.PASS
    assert verdict(check, window(bsm_log([30.5], speed=1389), 30, 31, frames)) is Verdict.FAIL
    assert verdict(check, window(bsm_log([31.0], speed=2778), 30, 32, frames)) is Verdict.PASS
    assert verdict(check, window(bsm_log([31.0], speed=1389), 30, 32, frames)) is Verdict.FAIL
    assert verdict(check, window(bsm_log([29.95], speed=139), 29, 30, frames)) is Verdict.PASS


def test_unknown_topic_is_a_located_profile_error() -> None:
    with pytest.raises(ProfileError) as exc:
        compile_checks("{kind: mqtt_field, topic: bsmm, where: {speed: 1}}")
    assert "cases[0].checks[0].topic" in str(exc.value) and "bsm" in str(exc.value)


def test_signal_delta_counts_modulo_the_signal_range() -> None:
    plan, (check,) = compile_checks(
        "{kind: signal_delta, message: TCU_Status, signal: CmdCount, from: mark, delta: 1}"
    )
    status = plan.dbc.message("TCU_Status")
    frames = FrameLog()
    for t, count in ((0.5, 255), (1.5, 255), (1.6, 0)):
        frames.add_rx(
            t,
            status.frame_id,
            status.encode({**dict.fromkeys(status.signals, 0), "CmdCount": count}),
        )
    w = window(MqttLog(), 1.0, 2.0, frames, {"mark": 1.0})
    assert verdict(check, w) is Verdict.PASS  # 255 -> 0 is +1
    frames.add_rx(
        1.7, status.frame_id, status.encode({**dict.fromkeys(status.signals, 0), "CmdCount": 2})
    )
    assert verdict(check, window(MqttLog(), 1.0, 2.0, frames, {"mark": 1.0})) is Verdict.FAIL

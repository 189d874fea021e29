"""Each CAN check, on hand-made observation logs: it passes on good data and fails on bad."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.can.dbc import CanDatabase, load_dbc
from harness.can.e2e import E2EProtection
from harness.checks import CHECKS, Check, Resolver
from harness.errors import ProfileError
from harness.observe import FLAG_FD, FrameLog, Window
from harness.record import Verdict

DBC = Path(__file__).resolve().parents[2] / "dbc" / "cc-tcu-1.dbc"
STATUS = 0x3A0


@pytest.fixture(scope="module")
def db() -> CanDatabase:
    return load_dbc(DBC)


def make(db: CanDatabase, spec: dict[str, Any], markers: list[str] | None = None) -> Check:
    e2e = {"TCU_Status": db.message("TCU_Status").e2e("AliveCounter", "CRC")}

    def error(path: Any, **kw: Any) -> ProfileError:
        return ProfileError(path=str(path), **kw)

    cls = CHECKS.get(spec["kind"])
    params = cls.Params.model_validate(spec)
    return cls(params, Resolver(db, e2e, markers or [], error, ("check",), ["TCU_Status"]))


def status_frames(
    db: CanDatabase,
    times: list[float],
    *,
    counters: list[int] | None = None,
    flag: dict[float, int] | None = None,
    bad_crc_at: set[int] | None = None,
) -> FrameLog:
    prot: E2EProtection = db.message("TCU_Status").e2e("AliveCounter", "CRC")
    log = FrameLog()
    value = 0
    for i, t in enumerate(times):
        if flag:  # the flag's value at t: the last change at or before t
            value = next((v for tt, v in sorted(flag.items(), reverse=True) if tt <= t), 0)
        base = bytearray(8)
        base[1] = value << 1  # FaultVehDataInvalid is bit 9
        counter = counters[i] if counters else i % 16
        data = bytearray(prot.protect(bytes(base), counter))
        if bad_crc_at and i in bad_crc_at:
            data[7] ^= 0xFF
        log.add_rx(t, STATUS, bytes(data))
    return log


def window(log: FrameLog, t0: float, t1: float, **markers: float) -> Window:
    return Window(t0, t1, log, markers, 500_000)


def ticks(n: int, period: float = 0.1, start: float = 0.0) -> list[float]:
    return [round(start + i * period, 9) for i in range(n)]


CYCLE = {"kind": "cycle_time", "message": "TCU_Status", "min": 0.09, "max": 0.11}


def test_cycle_time_passes_and_measures(db: CanDatabase) -> None:
    log = status_frames(db, ticks(50))
    result = make(db, CYCLE).evaluate(window(log, 0.0, 4.95))
    assert result.verdict is Verdict.PASS
    assert result.measurements["mean_interval"] == pytest.approx(0.1)
    assert result.measurements["intervals"] == 49


def test_cycle_time_fails_on_a_late_frame_and_names_it(db: CanDatabase) -> None:
    times = ticks(20)
    times[10] += 0.05  # 150 ms after the one before
    result = make(db, CYCLE).evaluate(window(status_frames(db, times), 0.0, 1.95))
    assert result.verdict is Verdict.FAIL
    assert result.offender is not None and result.offender.timestamp == pytest.approx(1.05)
    assert result.measurements["max_interval"] == pytest.approx(0.15)


def test_cycle_time_fails_on_silence_at_the_end(db: CanDatabase) -> None:
    log = status_frames(db, ticks(10))
    result = make(db, CYCLE).evaluate(window(log, 0.0, 3.0))
    assert result.verdict is Verdict.FAIL
    assert "silent" in result.summary


def test_cycle_time_mean_bounds(db: CanDatabase) -> None:
    spec = {**CYCLE, "min": 0.05, "max": 0.2, "mean": [0.095, 0.105]}
    log = status_frames(db, ticks(30, period=0.12))
    assert make(db, spec).evaluate(window(log, 0.0, 3.5)).verdict is Verdict.FAIL


def test_cycle_time_with_no_frames_fails(db: CanDatabase) -> None:
    result = make(db, CYCLE).evaluate(window(FrameLog(), 0.0, 1.0))
    assert result.verdict is Verdict.FAIL and result.measurements["frames"] == 0


def test_alive_counter(db: CanDatabase) -> None:
    spec = {"kind": "alive_counter", "message": "TCU_Status"}
    good = status_frames(db, ticks(40))
    assert make(db, spec).evaluate(window(good, 0, 4)).verdict is Verdict.PASS
    counters = [i % 16 for i in range(40)]
    counters[20] = counters[19]
    bad = status_frames(db, ticks(40), counters=counters)
    result = make(db, spec).evaluate(window(bad, 0, 4))
    assert result.verdict is Verdict.FAIL
    assert result.measurements["violations"] == 2  # the repeat, then the jump back
    assert result.offender is not None and result.offender.timestamp == pytest.approx(2.0)


def test_e2e_crc(db: CanDatabase) -> None:
    spec = {"kind": "e2e_crc", "message": "TCU_Status"}
    assert make(db, spec).evaluate(window(status_frames(db, ticks(10)), 0, 1)).verdict is (
        Verdict.PASS
    )
    bad = status_frames(db, ticks(10), bad_crc_at={3})
    result = make(db, spec).evaluate(window(bad, 0, 1))
    assert result.verdict is Verdict.FAIL and result.measurements["violations"] == 1
    assert result.offender is not None and "expected 0x" in result.offender.detail


def test_allowed_ids(db: CanDatabase) -> None:
    log = status_frames(db, ticks(10))
    spec = {"kind": "allowed_ids", "ids": [0x3A0, 0x3B0]}
    assert make(db, spec).evaluate(window(log, 0, 1)).verdict is Verdict.PASS
    log.add_rx(1.5, 0x3A1, b"\x00")
    result = make(db, spec).evaluate(window(log, 0, 2))
    assert result.verdict is Verdict.FAIL
    assert result.measurements["unexpected"] == {"0x3A1": 1}


def test_bus_load_uses_worst_case_frame_length(db: CanDatabase) -> None:
    # 10 frames of DLC 8 per second: 10 * 135 bits = 1350 bits = 0.27 % of 500 kbit/s
    log = status_frames(db, ticks(30))
    spec = {"kind": "bus_load", "max_percent": 5}
    result = make(db, spec).evaluate(window(log, 0, 3))
    assert result.verdict is Verdict.PASS
    assert result.measurements["peak_percent"] == pytest.approx(0.27, abs=0.03)
    flood = FrameLog()
    for i in range(4000):  # 2 kHz of DLC 8 frames for 2 s: 54 %
        flood.add_rx(i * 0.0005, 0x7E8, bytes(8))
    result = make(db, spec).evaluate(window(flood, 0, 2))
    assert result.verdict is Verdict.FAIL
    assert result.measurements["peak_percent"] == pytest.approx(54.0, abs=0.2)


def test_signal_condition(db: CanDatabase) -> None:
    spec = {"kind": "signal", "message": "TCU_Status", "signal": "FaultVehDataInvalid", "equals": 0}
    clean = status_frames(db, ticks(10))
    assert make(db, spec).evaluate(window(clean, 0, 1)).verdict is Verdict.PASS
    flagged = status_frames(db, ticks(10), flag={0.0: 0, 0.5: 1})
    result = make(db, spec).evaluate(window(flagged, 0, 1))
    assert result.verdict is Verdict.FAIL
    assert result.offender is not None and result.offender.timestamp == pytest.approx(0.5)


def test_signal_value_table_names_resolve(db: CanDatabase) -> None:
    log = FrameLog()
    log.add_rx(0.0, 0x3B0, bytes([3, 7]))
    spec = {"kind": "signal", "message": "TCU_Command", "signal": "CommandId", "equals": "LOCK"}
    assert make(db, spec).evaluate(window(log, 0, 1)).verdict is Verdict.PASS
    spec["equals"] = "HORN"
    assert make(db, spec).evaluate(window(log, 0, 1)).verdict is Verdict.FAIL


def test_unknown_value_name_is_a_load_error(db: CanDatabase) -> None:
    spec = {"kind": "signal", "message": "TCU_Command", "signal": "CommandId", "equals": "HONK"}
    with pytest.raises(ProfileError, match="HONK"):
        make(db, spec)


def test_latency(db: CanDatabase) -> None:
    spec = {
        "kind": "latency",
        "from": "stim",
        "message": "TCU_Status",
        "signal": "FaultVehDataInvalid",
        "equals": 1,
        "within": 0.2,
    }
    log = status_frames(db, ticks(30), flag={0.0: 0, 1.1: 1})
    check = make(db, spec, ["stim"])
    ok = check.evaluate(window(log, 0, 3, stim=1.0))
    assert ok.verdict is Verdict.PASS and ok.measurements["latency"] == pytest.approx(0.1)
    late = check.evaluate(window(log, 0, 3, stim=0.8))
    assert late.verdict is Verdict.FAIL
    never = status_frames(db, ticks(30))
    assert check.evaluate(window(never, 0, 3, stim=1.0)).verdict is Verdict.FAIL


def test_latency_needs_a_known_marker(db: CanDatabase) -> None:
    spec = {"kind": "latency", "from": "nope", "message": "TCU_Status", "within": 0.2}
    with pytest.raises(ProfileError, match="nope"):
        make(db, spec, ["stim"])


FLAG = {
    "kind": "flag",
    "message": "TCU_Status",
    "signal": "FaultVehDataInvalid",
    "set_after": "bad",
    "set_within": 0.2,
    "clear_after": "good",
    "clear_within": 0.2,
}


def test_flag_set_and_cleared_in_time(db: CanDatabase) -> None:
    log = status_frames(db, ticks(40), flag={0.0: 0, 1.1: 1, 2.6: 0})
    result = make(db, FLAG, ["bad", "good"]).evaluate(window(log, 0, 4, bad=1.0, good=2.5))
    assert result.verdict is Verdict.PASS
    assert result.measurements["set_latency"] == pytest.approx(0.1)
    assert result.measurements["clear_latency"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        ({0.0: 0, 0.5: 1}, "set before"),  # set before the stimulus
        ({0.0: 0, 1.5: 1, 2.6: 0}, "set after"),  # too late
        ({0.0: 0, 1.1: 1, 1.8: 0}, "cleared before"),  # dropped while the fault lasts
        ({0.0: 0, 1.1: 1, 3.0: 0}, "cleared after"),  # cleared too late
        ({0.0: 0, 1.1: 1}, "still set"),  # never cleared
        ({0.0: 0}, "never set"),
    ],
)
def test_flag_failures(db: CanDatabase, flags: dict[float, int], why: str) -> None:
    log = status_frames(db, ticks(40), flag=flags)
    result = make(db, FLAG, ["bad", "good"]).evaluate(window(log, 0, 4, bad=1.0, good=2.5))
    assert result.verdict is Verdict.FAIL, result.summary
    assert why in result.summary


def test_absent(db: CanDatabase) -> None:
    spec = {"kind": "absent", "message": "TCU_Command"}
    log = status_frames(db, ticks(10))
    assert make(db, spec).evaluate(window(log, 0, 1)).verdict is Verdict.PASS
    log.add_rx(0.5, 0x3B0, bytes([1, 1]))
    assert make(db, spec).evaluate(window(log, 0, 1)).verdict is Verdict.FAIL


def test_every_registered_check_kind_has_a_test_here() -> None:
    source = Path(__file__).read_text()
    # other families keep their checks' tests beside their own code (tests/v2x/test_checks.py)
    tests = Path(__file__).parents[1]
    source += "".join(p.read_text() for p in tests.glob("*/test_checks.py"))
    source += "".join(p.read_text() for p in tests.glob("*/test_*_fuzz.py"))  # fuzz checks
    for kind in CHECKS:
        assert (
            f'"kind": "{kind}"' in source
            or f"{kind.upper()} = " in source
            or f"kind: {kind}," in source
            or f"kind: {kind}}}" in source
            or f'kind == "{kind}"' in source
        ), kind


def two_buses() -> tuple[FrameLog, FrameLog]:
    """0x301 sent on front (and an FD 0x301, which the rule does not route); rear carries an
    own frame, the routed copy (1 ms later, its last byte altered when asked) and a leak."""
    front, rear = FrameLog(), FrameLog()
    front.add_tx(0.010, 0x301, b"\x01\x02")
    front.add_tx(0.012, 0x301, b"\x05", FLAG_FD)
    rear.add_rx(0.005, 0x110, b"\x00")
    rear.add_rx(0.011, 0x301, b"\x01\x02")
    rear.add_rx(0.013, 0x301, b"\x05")  # the FD frame, crossed as a classic one
    return front, rear


ROUTE = {"from": "front", "to": "rear", "first": 0x300, "last": 0x30F, "format": "classic"}


def test_routed_judges_each_copy_and_names_an_altered_one(db: CanDatabase) -> None:
    spec = {"kind": "routed", **ROUTE, "max_latency": "5 ms"}
    front, rear = two_buses()
    result = make(db, spec).evaluate(
        Window(0.0, 0.05, streams={"can.front": front, "can.rear": rear})
    )
    assert result.verdict is Verdict.PASS, result.summary
    assert result.measurements["count"] == 1 and result.measurements[
        "latency_max"
    ] == pytest.approx(0.001)
    rear = FrameLog()
    rear.add_rx(0.011, 0x301, b"\x01\x03")
    result = make(db, spec).evaluate(
        Window(0.0, 0.05, streams={"can.front": front, "can.rear": rear})
    )
    assert result.verdict is Verdict.FAIL and result.measurements["altered"] == 1
    assert result.offender is not None
    said = result.offender.describe()
    assert "altered: 0x301 [01 02] at 0.010000 s on front" in said, said
    assert "copy 0x301 [01 03] at 0.011000 s on rear" in said, said


def test_firewall_names_the_frame_that_crossed(db: CanDatabase) -> None:
    spec = {"kind": "firewall", **ROUTE, "allowed": [0x110]}
    front, rear = two_buses()
    result = make(db, spec).evaluate(
        Window(0.0, 0.05, streams={"can.front": front, "can.rear": rear})
    )
    assert result.verdict is Verdict.FAIL
    assert result.measurements == {"frames": 3, "own": 1, "crossed": 1, "returned": 0, "routed": 1}
    assert result.offender is not None and result.offender.timestamp == 0.013
    assert "crossed: 0x305" not in result.offender.detail
    assert "0x301 [05] at 0.013000 s on rear" in result.offender.detail

"""The timer watch (harness.timerwatch): late wake-ups of the harness's own timers during a
real-time run, kept in run.json's priority.timers as the bench's health."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from harness.timerwatch import (
    KEEP,
    PERIOD,
    STALL,
    SUMMARY_KEYS,
    TimerWatch,
    described,
    steal_ticks,
    watching_timers,
)
from tests.realtime_stalls import stalled_failures


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@given(st.lists(st.floats(min_value=0.0, max_value=0.2, allow_nan=False), max_size=60))
def test_counts_agree_with_a_plain_evaluation_of_the_same_waits(lates: list[float]) -> None:
    clock = _Clock()
    watch = TimerWatch(clock=clock, wall=lambda: clock.now + 1000.0, steal=lambda: None)
    began, measured = 0.0, []
    for late in lates:
        ended = began + PERIOD + late
        clock.now = ended
        watch.record(began, ended)
        measured.append(max(0.0, ended - began - PERIOD))  # as read from the clock
        began = ended
    lates = measured
    watch.publish()
    got = watch.summary
    assert got["wakeups"] == len(lates)
    assert got["late_over_2ms"] == sum(late > 0.002 for late in lates)
    assert got["late_over_10ms"] == sum(late > STALL for late in lates)
    assert abs(got["worst_ms"] - max(lates, default=0.0) * 1e3) < 1e-3 + 1e-6 * got["worst_ms"]
    stalls = [late for late in lates if late > STALL][-KEEP:]
    assert [round(s["late_ms"], 3) for s in got["stalls"]] == [round(x * 1e3, 3) for x in stalls]
    assert got["steal_ms"] is None  # no steal count: nothing claimed
    assert tuple(got) == SUMMARY_KEYS


def test_a_stall_of_the_process_is_caught_with_its_time() -> None:
    # sum() over a range runs in C without giving the interpreter lock back: for that long no
    # other thread of the process runs, as when its CPU is taken away
    with watching_timers() as summary:
        time.sleep(0.1)
        t0 = time.time()
        sum(range(6 * 10**6))
        t1 = time.time()
        time.sleep(0.1)
    held_ms = (t1 - t0) * 1e3
    assert held_ms > 30, "the machine summed too fast for this test to mean anything"
    assert summary["wakeups"] > 20
    assert summary["late_over_10ms"] >= 1 and summary["worst_ms"] >= held_ms * 0.5
    # it woke when the lock came back, and says so
    assert any(
        s["late_ms"] >= held_ms * 0.5 and t0 - 0.01 <= s["at"] <= t1 + 0.5
        for s in summary["stalls"]
    ), (t0, t1, summary)
    json.dumps(summary)  # as run.json keeps it


def test_steal_time_is_read_from_proc_stat_and_absent_when_unreadable(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 20 3000 5 0 1 42 0 0\ncpu0 5 0 10 1500 2 0 1 21 0 0\n")
    assert steal_ticks(str(stat)) == 42
    stat.write_text("intr 1 2 3\n")
    assert steal_ticks(str(stat)) is None
    assert steal_ticks(str(tmp_path / "missing")) is None


def test_the_line_for_console_and_report_names_the_worst_stall_and_its_time() -> None:
    assert described(None) == [] and described({"setting": "auto"}) == []  # simulated, old
    assert described({"timers": {**dict.fromkeys(SUMMARY_KEYS), "wakeups": 0}}) == []
    timers = {
        "period_ms": 2.0,
        "wakeups": 5000,
        "late_over_2ms": 7,
        "late_over_10ms": 2,
        "worst_ms": 24.5,
        "stalls": [{"at": 0.25, "late_ms": 12.0}, {"at": 3661.5, "late_ms": 24.5}],
        "steal_ms": 30.0,
    }
    not_yet = dict.fromkeys(SUMMARY_KEYS)  # a simulator process that has not reported yet
    sim = {**timers, "late_over_2ms": 0, "late_over_10ms": 0, "stalls": [], "steal_ms": None}
    assert described({"timers": timers, "simulator": {"pid": 7, "timers": not_yet}}) == [
        (
            "the harness's timers",
            "5000 wake-ups every 2.0 ms: 7 more than 2 ms late, 2 more than 10 ms "
            "(worst 24.5 ms, at 01:01:01.500 UTC); hypervisor steal 30.0 ms",
        )
    ]
    assert described({"timers": timers, "simulator": {"timers": sim}})[1] == (
        "the simulator's timers",
        "5000 wake-ups every 2.0 ms: 0 more than 2 ms late, 0 more than 10 ms",
    )


def _record(offender_at: float, stall_at: float, verdict: str = "FAIL") -> dict[str, object]:
    check = {
        "kind": "mqtt_interval",
        "verdict": verdict,
        "summary": "interval 121.969 ms outside 80.000 ms..120.000 ms",
        "offender": {"timestamp": offender_at, "detail": "interval 121.969 ms"},
    }
    stall = {"at": stall_at, "late_ms": 20.0}
    return {
        "status": "COMPLETED",
        "cases": [{"id": "TC-1", "verdict": verdict, "checks": [check]}],
        "priority": {"timers": {"stalls": []}, "simulator": {"timers": {"stalls": [stall]}}},
    }


def test_a_failure_is_put_down_to_the_bench_only_beside_a_recorded_stall() -> None:
    # the interval ended at 1000.0 and began 122 ms before: a stall inside it explains it
    assert "beside a stall of 20.0 ms ending 999.950" in (
        stalled_failures(_record(1000.0, 999.95)) or ""
    )
    assert stalled_failures(_record(1000.0, 998.0)) is None  # no stall anywhere near
    assert stalled_failures(_record(1000.0, 999.95, verdict="INCONCLUSIVE")) is None
    incomplete = {**_record(1000.0, 999.95), "status": "INCOMPLETE"}
    assert stalled_failures(incomplete) is None

"""The V2X and command cases in real time, chosen with ``--case``.

With ``--sim-process`` the simulator runs in a process of its own and every MQTT case runs,
the BSM timing among them; in the harness's process (a thread beside it, sharing its
interpreter lock) the cases that drive the embedded broker: will, restart and kick. A run
whose every failure lies beside a stall of the bench that the run itself recorded runs once
more (tests/realtime_stalls.py); any other failure fails the test.

The whole profile runs in real time in
``tests/test_certify.py::test_realtime_against_the_simulator_in_its_own_process`` (the
simulator as its own process, Mosquitto over TLS), and in ``harness qualify``'s real-time
reference runs (the simulator as its own process); running it twice here cost CI 4.5 minutes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.profile.compile import load_profile
from harness.timerwatch import KEEP
from tests.conftest import PROFILE, run_harness
from tests.realtime_stalls import stalled_failures

# the cases the embedded broker's controls serve (kick with will, stop, start) and the one
# that sees the part online first
BROKER_CASES = [
    "TC-V2X-001-ONLINE",
    "TC-CMD-001",
    "TC-V2X-001-WILL",
    "TC-V2X-008-RESTART",
]  # in the profile's order


def _certify(out: Path, cases: list[str], *extra: str) -> tuple[dict[str, Any], Path]:
    """Certify ``cases`` in real time into ``out`` and check the run passed; run once more
    (into ``out`` + ``-again``, returned) only when every failure lay beside a stall the run
    recorded of the bench itself (tests/realtime_stalls.py)."""
    chosen = [arg for case_id in cases for arg in ("--case", case_id)]
    result = run_harness(["certify", str(PROFILE), *extra, *chosen, "--out", str(out)], timeout=900)
    record: dict[str, Any] = json.loads((out / "run.json").read_text())
    stalled = stalled_failures(record) if result.returncode == 1 else None
    if stalled is not None:
        print(f"run again: the bench stalled where it failed: {stalled}")
        out = out.with_name(out.name + "-again")
        argv = ["certify", str(PROFILE), *extra, *chosen, "--out", str(out)]
        result = run_harness(argv, timeout=900)
        record = json.loads((out / "run.json").read_text())
    assert record["selected_cases"] == cases
    failed = {c["id"]: c["verdict"] for c in record["cases"] if c["verdict"] != "PASS"}
    assert result.returncode == 0, (failed, result.stdout[-3000:], result.stderr[-3000:])
    assert record["mode"] == "realtime" and record["passed"] is True
    assert set(record["requirements"].values()) == {"PASS"}
    # the harness watched its own timers the whole run, and says how late they woke
    timers = record["priority"]["timers"]
    assert timers["wakeups"] > 1000
    assert len(timers["stalls"]) == min(timers["late_over_10ms"], KEEP)
    assert "the harness's timers: " in result.stdout
    return record, out


@pytest.mark.realtime
def test_every_mqtt_case_passes_with_the_simulator_in_its_own_process(tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    plan = load_profile(PROFILE)
    mqtt_cases = [
        c.case_id for c in plan.cases if any(r.startswith(("V2X-", "CMD-")) for r in c.requirements)
    ]
    assert len(mqtt_cases) >= 13 and set(BROKER_CASES) <= set(mqtt_cases)
    record, out = _certify(out, mqtt_cases, "--sim-process")
    assert record["dut"] == "sim (own process)"
    # three processes: the harness, the simulator and the embedded broker, each raised
    priority = record["priority"]
    pids = {priority[name]["pid"] for name in ("harness", "simulator", "broker")}
    assert len(pids) == 3 and None not in pids
    # the simulator process watched its own timers too, and said so (at least every 10 s)
    sim_timers = priority["simulator"]["timers"]
    assert sim_timers["wakeups"] > 1000 and sim_timers["period_ms"] == 2.0
    lines = (out / "mqtt.jsonl").read_text().splitlines()
    assert sum('"v2x/bsm/' in line for line in lines) > 500


@pytest.mark.realtime
def test_the_broker_cases_pass_with_the_simulator_in_the_harness_process(tmp_path: Path) -> None:
    record, _ = _certify(tmp_path / "evidence", BROKER_CASES, "--realtime")
    assert record["dut"] == "sim"
    # the embedded broker ran in a process of its own (off the harness's interpreter lock)
    priority = record["priority"]
    assert priority["broker"]["pid"] not in (None, priority["harness"]["pid"])

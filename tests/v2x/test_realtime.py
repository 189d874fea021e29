"""The V2X and command cases in real time against the in-process simulator and the embedded
broker (amqtt), chosen with ``--case``.

The whole profile runs in real time in
``tests/test_certify.py::test_realtime_against_the_simulator_in_its_own_process`` (the
simulator as its own process, Mosquitto over TLS), and in ``harness qualify``'s real-time
reference runs (the simulator as its own process); running it twice here cost CI 4.5 minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.profile.compile import load_profile
from tests.conftest import PROFILE, run_harness


@pytest.mark.realtime
def test_realtime_with_the_embedded_broker_passes(tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    plan = load_profile(PROFILE)
    mqtt_cases = [
        c.case_id for c in plan.cases if any(r.startswith(("V2X-", "CMD-")) for r in c.requirements)
    ]
    assert len(mqtt_cases) >= 13
    chosen = [arg for case_id in mqtt_cases for arg in ("--case", case_id)]
    result = run_harness(
        ["certify", str(PROFILE), "--realtime", *chosen, "--out", str(out)], timeout=900
    )
    record = json.loads((out / "run.json").read_text())
    assert record["selected_cases"] == mqtt_cases
    failed = {c["id"]: c["verdict"] for c in record["cases"] if c["verdict"] != "PASS"}
    assert result.returncode == 0, (failed, result.stdout[-3000:], result.stderr[-3000:])
    assert record["mode"] == "realtime" and record["passed"] is True
    # the embedded broker ran in a process of its own (off the harness's interpreter lock)
    priority = record["priority"]
    assert priority["broker"]["pid"] not in (None, priority["harness"]["pid"])
    assert set(record["requirements"].values()) == {"PASS"}
    lines = (out / "mqtt.jsonl").read_text().splitlines()
    assert sum('"v2x/bsm/' in line for line in lines) > 500

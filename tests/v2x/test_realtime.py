"""The whole profile in real time against the in-process simulator and the embedded broker.

(The simulator as its own process on Mosquitto over TLS is
``tests/test_certify.py::test_realtime_against_the_simulator_in_its_own_process``.)
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import PROFILE, run_harness


def test_realtime_with_the_embedded_broker_passes(tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    result = run_harness(["certify", str(PROFILE), "--realtime", "--out", str(out)], timeout=900)
    record = json.loads((out / "run.json").read_text())
    failed = {c["id"]: c["verdict"] for c in record["cases"] if c["verdict"] != "PASS"}
    assert result.returncode == 0, (failed, result.stdout[-3000:], result.stderr[-3000:])
    assert record["mode"] == "realtime" and record["passed"] is True
    assert set(record["requirements"].values()) == {"PASS"}
    lines = (out / "mqtt.jsonl").read_text().splitlines()
    assert sum('"v2x/bsm/' in line for line in lines) > 500

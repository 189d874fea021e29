"""The lab example (examples/lab_test): a lab's pytest tests written against the public
``harness`` API, run as a lab would run them, at a bench (virtual CAN, real time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.certificate.keys import generate_key_pair
from harness.evidence import CERTIFICATE_FILE
from tests.conftest import ROOT, run_harness

pytestmark = pytest.mark.realtime

EXAMPLE = ROOT / "examples" / "lab_test"


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(EXAMPLE), "-q", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=dict(os.environ, COLUMNS="160"),
    )


def cases(folder: Path) -> dict[str, dict[str, Any]]:
    run = json.loads((folder / "run.json").read_text())
    return {c["id"]: c for c in run["cases"]}


def test_lab_cases_are_recorded_reported_and_certified(tmp_path: Path) -> None:
    keys = generate_key_pair(tmp_path / "lab")
    ev = tmp_path / "ev"
    result = run_example("--out", str(ev), "--key", str(keys.private))
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads((ev / "run.json").read_text())
    assert run["status"] == "COMPLETED" and run["mode"] == "realtime" and run["passed"]
    by_id = cases(ev)
    assert by_id["LAB-CAN-001"]["requirements"] == ["CAN-001"]
    assert by_id["LAB-CAN-003"]["requirements"] == ["CAN-003"]
    assert by_id["TC-LAB-E2E"]["verdict"] == "PASS"  # the profile's own case, run from Python
    measured = by_id["LAB-CAN-001"]["checks"][0]
    assert measured["kind"] == "measurement" and measured["verdict"] == "PASS"
    assert measured["limits"]["units"] == "ms" and 90 <= measured["measurements"][
        "status_cycle_mean"] <= 110  # fmt: skip
    assert by_id["LAB-CAN-001"]["checks"][1]["kind"] == "cycle_time"  # a registered check
    report = (ev / "report" / "report.html").read_text()
    assert "LAB-CAN-001" in report and "status_cycle_mean" in report
    junit = (ev / "report" / "junit.xml").read_text()
    assert 'name="LAB-CAN-003"' in junit
    # the lab's cases count in the certificate's requirement verdicts
    verified = run_harness(
        ["verify", str(ev / CERTIFICATE_FILE), "--key", str(keys.public), "--evidence", str(ev),
         "--json"]
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    statement = json.loads(verified.stdout)
    # CAN-001 is shown by the lab's case alone: the profile's one case traces CAN-003/004
    assert statement["predicate"]["requirements"] == {
        "CAN-001": "PASS",
        "CAN-003": "PASS",
        "CAN-004": "PASS",
    }
    # the subject is the identity the part gave over UDS (the simulator's own VIN)
    assert "KMHCC00TCU1000001" in json.dumps(statement["subject"])


def test_a_measurement_outside_its_limits_fails_the_case(tmp_path: Path) -> None:
    keys = generate_key_pair(tmp_path / "lab")
    ev = tmp_path / "ev"
    # the faulty part in a process of its own, as a supplier's program would run
    result = run_example(
        "--out", str(ev), "--key", str(keys.private), "--dut", "sim:slow-cycle", "--sim-process"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout and "test_status_cycle" in result.stdout
    by_id = cases(ev)
    case = by_id["LAB-CAN-001"]
    assert case["verdict"] == "FAIL"
    measured, check = case["checks"]
    assert measured["verdict"] == "FAIL" and "outside" in measured["summary"]
    assert measured["measurements"]["status_cycle_mean"] > 110  # every 125 ms
    assert check["verdict"] == "PASS"  # its loose cycle_time check passes: the measurement fails
    assert by_id["LAB-CAN-003"]["verdict"] == "PASS"
    run = json.loads((ev / "run.json").read_text())
    assert run["requirements"]["CAN-001"] == "FAIL" and not run["passed"]
    assert run["dut"] == "sim:slow-cycle (own process)"
    assert run["priority"]["simulator"]["pid"] != run["priority"]["harness"]["pid"]
    assert not (ev / CERTIFICATE_FILE).exists()
    assert "LAB-CAN-001" in (ev / "report" / "report.html").read_text()

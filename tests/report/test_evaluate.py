"""``harness evaluate``: the evidence alone gives back every verdict and measurement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import can
import pytest

from harness.bench import Bench
from harness.offline import evaluate_evidence, load_evidence, read_trace
from harness.profile.compile import load_profile
from harness.record import RunStatus
from harness.session import DutChoice, Session
from harness.sim.variants import VARIANTS
from tests.conftest import PROFILE, run_harness
from tests.report.conftest import MakeRun, assert_agrees, copy_run, profile_args, profile_of


def test_passing_run_agrees_from_the_cli(make_run: MakeRun) -> None:
    folder = make_run("sim")
    result = run_harness(["evaluate", str(folder), *profile_args(folder)])
    record = json.loads((folder / "run.json").read_text())
    checks = sum(len(c["checks"]) for c in record["cases"])
    assert f"{checks} checks of {len(record['cases'])} cases" in result.stdout
    assert_agrees(evaluate_evidence(load_evidence(folder, profile_of(folder))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AGREES" in result.stdout
    assert "DIFFERS" not in result.stdout


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_faulty_variant_agrees(make_run: MakeRun, variant: str) -> None:
    folder = make_run(f"sim:{variant}")
    evaluation = evaluate_evidence(load_evidence(folder, profile_of(folder)))
    failed = [c for c in evaluation.cases if c.recorded.value != "PASS"]
    assert failed, f"{variant} failed nothing, so the comparison showed nothing"
    assert_agrees(evaluation)


def test_rebuilt_log_is_the_live_log_exactly(tmp_path: Path) -> None:
    plan = load_profile(PROFILE)
    out = tmp_path / "evidence"
    with Session(plan, Bench(), DutChoice.parse("sim:flood"), out_dir=out) as session:
        session.run_all()
    live = session.log
    log, frames = read_trace(out / "trace.blf", session.record.trace_origin)
    assert frames == live.rx_count + sum(len(c.ts) for c in live.tx.values())
    assert log.rx_all.ts == live.rx_all.ts and log.rx_ids == live.rx_ids
    assert {k: (c.ts, c.data) for k, c in log.rx.items()} == {
        k: (c.ts, c.data) for k, c in live.rx.items()
    }
    assert {k: (c.ts, c.data) for k, c in log.tx.items()} == {
        k: (c.ts, c.data) for k, c in live.tx.items()
    }


def _case(record: dict[str, Any], case_id: str) -> dict[str, Any]:
    return next(c for c in record["cases"] if c["id"] == case_id)


def test_a_verdict_edited_from_fail_to_pass_is_reported(make_run: MakeRun, tmp_path: Path) -> None:
    folder = copy_run(make_run("sim:slow-cycle"), tmp_path)
    path = folder / "run.json"
    record = json.loads(path.read_text())
    case = _case(record, "TC-CAN-001-ON")
    assert case["verdict"] == "FAIL"
    case["verdict"] = "PASS"
    case["checks"][0]["verdict"] = "PASS"
    path.write_text(json.dumps(record, indent=2))
    result = run_harness(["evaluate", str(folder), *profile_args(folder)])
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "DIFFERS TC-CAN-001-ON: record PASS, evidence FAIL" in out
    assert 'verdict: record "PASS", evidence "FAIL"' in out
    assert out.splitlines()[-1].startswith("DIFFERS: ")


def test_an_edited_measurement_is_reported(make_run: MakeRun, tmp_path: Path) -> None:
    folder = copy_run(make_run("sim"), tmp_path)
    path = folder / "run.json"
    record = json.loads(path.read_text())
    _case(record, "TC-CAN-001-ON")["checks"][0]["measurements"]["max_interval"] = 0.105
    path.write_text(json.dumps(record))
    result = run_harness(["evaluate", str(folder), "--quiet", *profile_args(folder)])
    assert result.returncode == 1
    assert "measurements.max_interval: record 0.105, evidence 0.1" in result.stdout
    assert "TC-CAN-003" not in result.stdout  # --quiet lists only what differs


def test_a_frame_changed_in_the_trace_is_reported(make_run: MakeRun, tmp_path: Path) -> None:
    """Rewrite the BLF with one TCU_Status CRC byte flipped inside TC-CAN-004's window."""
    folder = copy_run(make_run("sim"), tmp_path)
    record = json.loads((folder / "run.json").read_text())
    t0, t1 = _case(record, "TC-CAN-004")["checks"][0]["window"]
    frames = list(can.BLFReader(str(folder / "trace.blf")))
    target = next(
        k
        for k, m in enumerate(frames)
        if m.arbitration_id == 0x3A0 and m.is_rx and t0 + 1 < m.timestamp < t1 - 1
    )
    data = bytearray(frames[target].data)
    data[-1] ^= 0xFF
    frames[target].data = data
    with can.BLFWriter(str(folder / "trace.blf")) as writer:
        for msg in frames:
            writer.on_message_received(msg)
    result = run_harness(["evaluate", str(folder), "--quiet", *profile_args(folder)])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "TC-CAN-004: record PASS, evidence FAIL" in result.stdout
    assert "1 bad CRC(s)" in result.stdout


def test_another_profile_is_reported(make_run: MakeRun, tmp_path: Path) -> None:
    folder = make_run("sim")
    edited = tmp_path / "edited.yaml"
    text = PROFILE.read_text()
    edited.write_text(text.replace("max: 110 ms", "max: 130 ms", 1))
    dbc = PROFILE.parent.parent / "dbc" / "cc-tcu-1.dbc"
    result = run_harness(["evaluate", str(folder), "--profile", str(edited), "--dbc", str(dbc)])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not the profile this run used" in result.stdout


def test_an_aborted_run_is_evaluated_as_far_as_it_got(tmp_path: Path) -> None:
    plan = load_profile(PROFILE)
    out = tmp_path / "evidence"
    session = Session(plan, Bench(), DutChoice.parse("sim"), out_dir=out)
    with pytest.raises(KeyboardInterrupt), session:
        for case in plan.cases[:3]:
            session.run_case(case)
        raise KeyboardInterrupt
    assert session.record.status is RunStatus.ABORTED
    result = run_harness(["evaluate", str(out), *profile_args(out)])
    assert "the run is ABORTED" in result.stdout
    assert "3 case(s) recorded" in result.stdout
    assert_agrees(evaluate_evidence(load_evidence(out, profile_of(out))))
    # what it recorded agrees, but the run is incomplete: said first, exit 3 (issue 14)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.startswith("INCOMPLETE: evidence folder")
    assert "AGREES" in result.stdout


def test_bad_input_is_exit_2(tmp_path: Path, make_run: MakeRun) -> None:
    result = run_harness(["evaluate", str(tmp_path / "nowhere")])
    assert result.returncode == 2 and "error:" in result.stderr
    result = run_harness(["evaluate", str(tmp_path)])
    assert result.returncode == 2 and "holds no run.json" in result.stderr
    folder = copy_run(make_run("sim"), tmp_path)
    record = json.loads((folder / "run.json").read_text())
    del record["cases"][0]["markers"]
    (folder / "run.json").write_text(json.dumps(record))
    result = run_harness(["evaluate", str(folder), *profile_args(folder)])
    assert result.returncode == 2
    assert "missing key 'markers'" in result.stderr and "cases[0]" in result.stderr
    (folder / "run.json").write_text("{")
    result = run_harness(["evaluate", str(folder), *profile_args(folder)])
    assert result.returncode == 2 and "not valid JSON" in result.stderr

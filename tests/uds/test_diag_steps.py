"""Diagnostic steps end to end: identity, evidence, a DUT that never answers, profile errors."""

from __future__ import annotations

import json
from pathlib import Path

import can
import pytest

from harness.bench import Bench
from harness.errors import DutNotResponding, ProfileError
from harness.offline import evaluate_evidence, load_evidence
from harness.plan import Plan
from harness.profile.compile import load_profile, load_profile_text
from harness.record import RunStatus, Verdict
from harness.session import DutChoice, Session
from tests.conftest import DBC, PROFILE, run_harness

UDS_IDS = [f"UDS-00{i}" for i in range(1, 9)]

HEAD = f"""\
format: cc-harness-profile/1
profile:
  id: uds-mini
  version: 1.0.0
  title: UDS steps
  requirements: {{id: CC-TCU-1, version: "1.0", ids: [{", ".join(UDS_IDS)}, CAN-007]}}
dbc: {DBC}
dut: {{node: TCU, ready: {{message: TCU_Status, timeout: 2 s}}}}
e2e:
  VEH_Dynamics: {{counter: AliveCounter, crc: CRC}}
restbus:
  VEH_Dynamics: {{signals: {{VehicleSpeed: 50.0}}}}
  VEH_Status: {{signals: {{IgnitionState: "ON"}}}}
"""

IDENTITY = """\
identity:
  vin: 0xF190
  sw_version: 0xF189
  serial: 0xF18C
  station_id: {did: 0xF1A0, format: hex}
"""

CASES = """\
cases:
  - id: TC-READ
    title: read the VIN
    requirements: [UDS-003]
    steps:
      - diag: {service: ReadDataByIdentifier, did: 0xF190, expect: {prefix: "62 F1 90"}}
  - id: TC-UNLOCK
    title: unlock
    requirements: [UDS-004]
    steps:
      - diag: {request: "10 03", expect: {prefix: "50 03"}}
      - security_access: {algorithm: cc-tcu-1}
      - read_dtcs: {status_mask: 0x01, expect: [{dtc: 0xC12200, absent: true}]}
      - diag: {request: "10 01", expect: {prefix: "50 01"}}
"""


def write_profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "uds-mini.yaml"
    path.write_text(text)
    return path


def test_the_reference_profile_traces_every_uds_requirement() -> None:
    plan = load_profile(PROFILE)
    traced = {req for case in plan.cases for req in case.requirements}
    assert set(UDS_IDS) <= traced
    assert {"vin", "sw_version", "serial", "station_id"} <= set(plan.profile.identity)


def test_identity_goes_into_run_json_and_the_console(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, HEAD + IDENTITY + CASES)
    out = tmp_path / "evidence"
    result = run_harness(["certify", str(profile), "--out", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((out / "run.json").read_text())
    identity = {
        "vin": "KMHCC00TCU1000001",
        "sw_version": "CCTCU-1.0.0",
        "serial": "CCTCU0000001",
        "station_id": "0C0FFEE1",
    }
    assert record["identity"] == identity
    assert (
        "DUT identity: vin=KMHCC00TCU1000001, sw_version=CCTCU-1.0.0, serial=CCTCU0000001, "
        "station_id=0C0FFEE1" in " ".join(result.stdout.split())
    )
    # The raw ISO-TP exchanges: every frame in the trace, their meaning in diag.jsonl.
    entries = [json.loads(line) for line in (out / "diag.jsonl").read_text().splitlines()]
    assert [e["request"] for e in entries[:4]] == ["22 F1 90", "22 F1 89", "22 F1 8C", "22 F1 A0"]
    vin = entries[0]["responses"][0]
    assert vin["frames"] == 3 and vin["data"].startswith("62 F1 90 4B 4D 48")
    assert any(e["request"].startswith("27 02") for e in entries)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "diag.jsonl" in {f["path"] for f in manifest["files"]}
    frames = list(can.BLFReader(str(out / "trace.blf")))
    assert {0x7E0, 0x7E8} <= {f.arbitration_id for f in frames}


def test_uds_verdicts_recompute_from_the_trace(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, HEAD + IDENTITY + CASES)
    plan = load_profile(profile)
    out = tmp_path / "evidence"
    with Session(plan, Bench(), DutChoice.parse("sim:security-never-locks"), out_dir=out) as s:
        record = s.run_all()
    assert record.passed
    evaluation = evaluate_evidence(load_evidence(out, profile))
    assert evaluation.agrees, [d for c in evaluation.cases for k in c.checks for d in k.differences]
    assert evaluation.checks == 5


NO_ANSWER = """\
diagnostics: {request_id: 0x7E1, functional_id: 0x7DF, response_id: 0x7E9, timeout: 800 ms}
cases:
  - id: TC-SILENT
    title: a request the DUT never answers
    requirements: [UDS-003]
    steps:
      - diag: {service: ReadDataByIdentifier, did: 0xF190, expect: {prefix: "62 F1 90"}}
  - id: TC-AFTER
    title: the run goes on
    requirements: [UDS-002]
    steps:
      - diag: {request: "3E 80", addressing: functional, expect: none}
"""


def test_a_dut_that_never_answers_fails_the_case_naming_request_and_timeout(
    tmp_path: Path,
) -> None:
    # The TCU listens on 0x7E0: requests to 0x7E1 are never answered.
    profile = write_profile(tmp_path, HEAD + NO_ANSWER)
    out = tmp_path / "evidence"
    result = run_harness(["certify", str(profile), "--out", str(out)])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    text = " ".join((result.stdout + result.stderr).split())
    assert (
        "no response to 22 F1 90 (ReadDataByIdentifier), physical within 800.000 ms "
        "(tester timeout 800.000 ms, P2 50.000 ms)" in text
    )
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "COMPLETED"
    assert [c["verdict"] for c in record["cases"]] == ["FAIL", "PASS"]
    check = record["cases"][0]["checks"][0]
    assert check["measurements"]["response"] is None
    assert check["measurements"]["request"] == "22 F1 90"
    assert record["cases"][0]["ended"] - record["cases"][0]["started"] < 2.5  # no hang


def test_an_unreadable_identity_is_exit_3_naming_the_did_and_timeout(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, HEAD + IDENTITY + NO_ANSWER)
    out = tmp_path / "evidence"
    result = run_harness(["certify", str(profile), "--out", str(out)])
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert (
        "could not read the DUT's identity vin (DID 0xF190): no response to 22 F1 90 "
        "(ReadDataByIdentifier), physical within 800.000 ms" in " ".join(result.stderr.split())
    )
    assert "(asked 3 times)" in result.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "INCOMPLETE" and record["passed"] is False
    # A request without any answer is asked again (a frame lost on a flooded bus must not
    # end the run), and each attempt is in the evidence.
    tries = [json.loads(line) for line in (out / "diag.jsonl").read_text().splitlines()]
    assert [(t["request"], t["step"], t["responses"]) for t in tries] == [
        ("22 F1 90", "identity vin", [])
    ] * 3


def test_an_unreadable_identity_in_process_raises_dut_not_responding(tmp_path: Path) -> None:
    plan = load_profile_text(HEAD + IDENTITY + NO_ANSWER, "mini.yaml", tmp_path)
    with (
        pytest.raises(DutNotResponding, match="DID 0xF190"),
        Session(plan, Bench(), DutChoice("sim")),
    ):
        pass


def _run(plan: Plan, dut: str = "sim") -> list[Verdict]:
    with Session(plan, Bench(), DutChoice.parse(dut)) as session:
        record = session.run_all()
    assert record.status is RunStatus.COMPLETED
    return [c.verdict for c in record.cases]


def test_a_wrong_expectation_fails_with_what_came_instead(tmp_path: Path) -> None:
    text = (
        HEAD
        + """\
cases:
  - id: TC-WRONG
    title: expects the wrong NRC
    requirements: [UDS-003]
    steps:
      - diag: {request: "22 F1 99", expect: {nrc: 0x12}}
"""
    )
    plan = load_profile_text(text, "mini.yaml", tmp_path)
    with Session(plan, Bench(), DutChoice("sim")) as session:
        record = session.run_all()
    check = record.cases[0].checks[0]
    assert check.verdict is Verdict.FAIL
    assert "answered NRC 0x31 RequestOutOfRange, expected NRC 0x12" in check.summary
    assert check.measurements["nrc"] == 0x31
    assert check.measurements["response_time"] == pytest.approx(0.002)
    assert check.offender is not None and check.offender.can_id == 0x7E8


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("{security_access: {algorithm: acme-x}}", "unknown seed-to-key algorithm"),
        ('{diag: {request: "22 F1 90 00 00 00 00 00", addressing: functional}}', "single frame"),
        ("{diag: {service: ReadDataByIdentifer, did: 0xF190}}", "udsoncan knows no service"),
        ("{diag: {service: TesterPresent}}", "needs a subfunction"),
        ('{diag: {request: "22 F1 9"}}', "even number of digits"),
        ('{diag: {request: "22", service: 0x22}}', "either request"),
        ('{diag: {request: "22 F1 90", expect: {nrc: NoSuchCode}}}', "or RequestOutOfRange"),
        ('{diag: {request: "2E F1 A0", data_identity: station_id}}', "identity section"),
        ('{diag: {request: "3E 00", requirements: [UDS-099]}}', "not a requirement"),
        ("{read_dtcs: {expect: [{dtc: 0xC12200, absent: true, status: 9}]}}", "not both"),
        ("{security_access: {algorithm: cc-tcu-1, level: 2}}", "odd"),
    ],
)
def test_profile_mistakes_are_located_errors(tmp_path: Path, step: str, message: str) -> None:
    text = (
        HEAD
        + f"""\
cases:
  - id: TC-X
    title: x
    requirements: [UDS-001]
    steps:
      - {step}
"""
    )
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, "mini.yaml", tmp_path)
    rendered = str(info.value)
    assert message in rendered
    assert rendered.startswith("mini.yaml:")


def test_a_bench_overrides_the_testers_iso_tp_framing(tmp_path: Path) -> None:
    plan = load_profile_text(HEAD + IDENTITY + CASES, "mini.yaml", tmp_path)
    bench = Bench.model_validate({"diagnostics": {"padding": "none", "block_size": 1}})
    with Session(plan, bench, DutChoice("sim")) as session:
        record = session.run_all()
    assert record.passed
    sent = session.log.tx_of(0x7E0).data
    assert b"\x03\x22\xf1\x90" in sent  # unpadded single frame
    flow_controls = [d for d in sent if d[0] >> 4 == 3]
    assert flow_controls and all(d == b"\x30\x01\x00" for d in flow_controls)  # BS 1

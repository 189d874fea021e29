"""The implementation conformance statement: cases needing a feature the part does not claim
are NOT APPLICABLE everywhere (run.json, JUnit, report, offline evaluation), never passed,
and the certificate lists what is not claimed."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.bench import load_bench
from harness.certificate.keys import generate_key_pair, load_public_key
from harness.certificate.verify import verify_certificate
from harness.cli import main
from harness.evidence import CERTIFICATE_FILE
from harness.profile.compile import load_profile
from harness.qualify import VariantVerdict, assess_variant
from harness.record import Verdict
from harness.session import DutChoice, Session
from harness.sim.variants import VARIANTS
from tests.conftest import DBC

PROFILE = f"""\
format: cc-harness-profile/1
profile:
  id: ics-test
  version: 1.0.0
  title: conformance statement test
  requirements: {{id: CC-TCU-1, version: "1.0", ids: [CAN-001, CAN-003]}}
dbc: {DBC}
dut: {{node: TCU, ready: {{message: TCU_Status, timeout: 2 s}}}}
e2e:
  VEH_Dynamics: {{counter: AliveCounter, crc: CRC}}
  TCU_Status: {{counter: AliveCounter, crc: CRC}}
restbus:
  VEH_Dynamics: {{signals: {{VehicleSpeed: 50.0}}}}
  VEH_Status: {{signals: {{IgnitionState: "ON"}}}}
identity:
  vin: {{did: 0xF190, length: 17, subject: true}}
  serial: {{did: 0xF18C, length: 12}}
features:
  counter: the alive counter of TCU_Status (a part without it sends a constant)
  spare: a feature no case needs
cases:
  - id: TC-CYCLE
    title: cycle
    requirements: [CAN-001]
    steps:
      - observe: 2 s
        checks: [{{kind: cycle_time, message: TCU_Status, min: 90 ms, max: 110 ms}}]
  - id: TC-COUNTER
    title: counter
    requirements: [CAN-003]
    needs: [counter]
    steps:
      - observe: 2 s
        checks: [{{kind: alive_counter, message: TCU_Status}}]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def ics(tmp_path: Path, **features: bool) -> Path:
    lines = "".join(f"  {k}: {'true' if v else 'false'}\n" for k, v in features.items())
    return write(tmp_path, "ics.yaml", f"format: cc-harness-ics/1\npart: EPS-7\nfeatures:\n{lines}")


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return write(tmp_path, "profile.yaml", PROFILE)


def certify(tmp_path: Path, profile: Path, *extra: str, out: str = "ev") -> tuple[int, Path, Path]:
    key = generate_key_pair(tmp_path / f"key-{out}")
    folder = tmp_path / out
    args = ["certify", str(profile), "--out", str(folder), "--quiet", "--key", str(key.private)]
    code = main([*args, *extra])
    return code, folder, key.public


def test_a_feature_not_claimed_makes_its_cases_not_applicable_everywhere(
    tmp_path: Path, profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, folder, public = certify(tmp_path, profile, "--ics", str(ics(tmp_path, counter=False)))
    out = capsys.readouterr().out
    assert code == 0, out
    run = json.loads((folder / "run.json").read_text())
    by_id = {c["id"]: c for c in run["cases"]}
    assert by_id["TC-CYCLE"]["verdict"] == "PASS"
    na = by_id["TC-COUNTER"]
    assert na["verdict"] == "NOT_APPLICABLE" and na["checks"] == []
    assert "counter" in na["not_applicable"] and "ics.yaml" in na["not_applicable"]
    assert run["requirements"] == {"CAN-001": "PASS", "CAN-003": "NOT_APPLICABLE"}
    assert run["not_claimed"] == ["CAN-003"]
    assert run["conformance"]["features"] == {"counter": False, "spare": False}
    assert run["passed"] is True
    # console: the verdict and what is not claimed
    assert "NOT APPLICABLE" in out and "not claimed" in out and "CAN-003" in out
    # JUnit: skipped, with the reason
    junit = ET.parse(folder / "report" / "junit.xml").getroot()
    case = next(tc for tc in junit.iter("testcase") if tc.get("name") == "TC-COUNTER")
    skipped = case.find("skipped")
    assert skipped is not None and case.find("failure") is None
    assert "NOT APPLICABLE" in (skipped.get("message") or "")
    assert "counter" in (skipped.get("message") or "")
    # the HTML report
    html = (folder / "report" / "report.html").read_text()
    assert "badge NOT_APPLICABLE" in html and "not claimed: CAN-003" in html
    # offline evaluation agrees with the record
    assert main(["evaluate", str(folder), "--quiet"]) == 0
    # the certificate: the statement, the unclaimed requirement, the case; it verifies
    cert = (folder / CERTIFICATE_FILE).read_bytes()
    verified = verify_certificate(
        cert,
        load_public_key(public),
        now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1),
        evidence=folder,
    )
    conformance = verified.predicate["conformance"]
    assert conformance["not_claimed"] == ["CAN-003"]
    assert conformance["not_applicable"] == ["TC-COUNTER"]
    assert conformance["statement"]["features"] == {"counter": False, "spare": False}
    assert verified.predicate["requirements"]["CAN-003"] == "NOT_APPLICABLE"
    assert main(["verify", str(folder / CERTIFICATE_FILE), "--key", str(public)]) == 0
    assert "not claimed   CAN-003" in capsys.readouterr().out


def test_with_the_feature_declared_its_cases_run(tmp_path: Path, profile: Path) -> None:
    code, folder, _ = certify(tmp_path, profile, "--ics", str(ics(tmp_path, counter=True)))
    assert code == 0
    run = json.loads((folder / "run.json").read_text())
    assert {c["id"]: c["verdict"] for c in run["cases"]} == {
        "TC-CYCLE": "PASS",
        "TC-COUNTER": "PASS",
    }
    assert run["not_claimed"] == []


def test_without_a_statement_every_case_applies(tmp_path: Path) -> None:
    plan = load_profile(write(tmp_path, "p.yaml", PROFILE))
    with Session(plan, load_bench(None), DutChoice.parse("sim")) as session:
        record = session.run_all()
    assert [c.verdict for c in record.cases] == [Verdict.PASS, Verdict.PASS]
    assert record.conformance is None


def test_a_part_without_the_feature_passes_only_with_its_statement(tmp_path: Path) -> None:
    """The stuck-counter variant lacks the counter: with a statement saying so it passes (the
    counter case does not apply); claiming the feature, it fails that case."""
    plan = load_profile(write(tmp_path, "p.yaml", PROFILE))
    bench_text = "format: cc-harness-bench/1\nconformance: {features: {counter: %s}}\n"
    outcomes = {}
    for claimed in ("false", "true"):
        bench = load_bench(write(tmp_path, f"bench-{claimed}.yaml", bench_text % claimed))
        with Session(plan, bench, DutChoice.parse("sim:stuck-counter")) as session:
            outcomes[claimed] = session.run_all()
    excused, claimed_run = outcomes["false"], outcomes["true"]
    assert excused.passed and excused.not_claimed() == ["CAN-003"]
    assert excused.cases[1].verdict is Verdict.NOT_APPLICABLE
    assert not claimed_run.passed and claimed_run.cases[1].verdict is Verdict.FAIL
    # qualify: not applicable is neither caught nor missed
    variant = VARIANTS["stuck-counter"]
    assert assess_variant(variant, excused, plan).verdict is VariantVerdict.OUT_OF_SCOPE
    assert assess_variant(variant, claimed_run, plan).verdict is VariantVerdict.CAUGHT


def test_an_unknown_feature_in_the_statement_is_exit_2_naming_its_place(
    tmp_path: Path, profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "ics.yaml",
        "format: cc-harness-ics/1\nfeatures:\n  counter: true\n  countr: true\n",
    )
    assert main(["certify", str(profile), "--out", str(tmp_path / "x"), "--ics", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4:3" in err and "features.countr" in err
    assert "did you mean counter" in err
    assert not (tmp_path / "x").exists()
    # in a bench alike
    bench = write(
        tmp_path, "bench.yaml", "format: cc-harness-bench/1\nconformance: {features: {wil: true}}\n"
    )
    assert main(["certify", str(profile), "--out", str(tmp_path / "y"), "--bench", str(bench)]) == 2
    err = capsys.readouterr().err
    assert f"bench {bench} conformance.features.wil" in err
    # a feature stated as something else than true/false
    bad = write(tmp_path, "bad.yaml", "format: cc-harness-ics/1\nfeatures: {counter: yes}\n")
    assert main(["certify", str(profile), "--out", str(tmp_path / "z"), "--ics", str(bad)]) == 2
    assert f"{bad}:2" in capsys.readouterr().err


def test_a_case_needing_an_undeclared_feature_is_a_profile_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "p.yaml", PROFILE.replace("needs: [counter]", "needs: [countr]"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "cases[1].needs[0]" in err and "counter" in err


def test_offline_evaluation_catches_a_record_that_excused_a_case_wrongly(
    tmp_path: Path, profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, folder, _ = certify(tmp_path, profile, "--ics", str(ics(tmp_path, counter=False)))
    assert code == 0
    run_path = folder / "run.json"
    run = json.loads(run_path.read_text())
    run["conformance"]["features"]["counter"] = True  # the statement claims it after all
    run_path.write_text(json.dumps(run))
    capsys.readouterr()
    assert main(["evaluate", str(folder), "--quiet"]) != 0
    assert "claims every feature the case needs" in capsys.readouterr().out


def test_cc_tcu_1_without_the_will_certifies_with_that_case_not_applicable(
    tmp_path: Path,
) -> None:
    from tests.conftest import PROFILE as CC_TCU_1

    code, folder, public = certify(tmp_path, CC_TCU_1, "--ics", str(ics(tmp_path, will=False)))
    assert code == 0
    run = json.loads((folder / "run.json").read_text())
    excused = [c["id"] for c in run["cases"] if c["verdict"] == "NOT_APPLICABLE"]
    assert excused == ["TC-V2X-001-WILL"]
    # the broker-restart cases still show V2X-001 and V2X-008: nothing is left unclaimed
    assert run["not_claimed"] == [] and set(run["requirements"].values()) == {"PASS"}
    cert = (folder / CERTIFICATE_FILE).read_bytes()
    now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    predicate = verify_certificate(
        cert, load_public_key(public), now=now, evidence=folder
    ).predicate
    assert predicate["conformance"]["not_applicable"] == ["TC-V2X-001-WILL"]
    assert predicate["conformance"]["statement"]["features"] == {"will": False}


def test_qualify_takes_the_statement_for_every_run(tmp_path: Path, profile: Path) -> None:
    """With the counter not claimed the counter case is NOT APPLICABLE in every run: the
    stuck counter is out of scope, not missed (and a variant still in scope is caught, so
    the profile qualifies); claiming it, the variant is caught."""
    reports = {}
    for claimed in (False, True):
        out = tmp_path / f"q-{claimed}"
        statement = ics(tmp_path, counter=claimed)
        args = ["qualify", str(profile), "--runs", "2", "--realtime-runs", "0", "--jobs", "1"]
        args += ["--out", str(out), "--ics", str(statement)]
        args += ["--variant", "stuck-counter", "--variant", "slow-cycle"]
        assert main(args) == 0
        reports[claimed] = json.loads((out / "qualification.json").read_text())
    excused, claimed_report = reports[False], reports[True]
    assert {v["name"]: v["verdict"] for v in excused["variants"]} == {
        "stuck-counter": "out of scope",
        "slow-cycle": "caught",
    }
    assert {v["name"]: v["verdict"] for v in claimed_report["variants"]} == {
        "stuck-counter": "caught",
        "slow-cycle": "caught",
    }

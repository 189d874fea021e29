"""CC-GW-1, the second reference part (shared/reference-gw.md), on the virtual clock.

The simulated gateway passes ``profiles/cc-gw-1.yaml``; each faulty variant fails only
cases (or checks) that trace its requirement; without ``rate_limit`` in the part's
conformance statement the GW-006 cases are not applicable and the certificate lists GW-006
as not claimed, and the variant without a rate limiter passes then (and fails when the
statement claims the feature).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.cli import main
from harness.offline import evaluate_evidence, load_evidence
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.record import RunRecord, Verdict
from harness.session import DutChoice, Session
from harness.sim.gw_config import GW_VARIANTS
from tests.report.conftest import assert_agrees

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "cc-gw-1.yaml"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_profile(PROFILE)


def _run(plan: Plan, dut: str, out: Path, bench: Bench | None = None) -> RunRecord:
    with Session(plan, bench or Bench(), DutChoice.parse(dut), out_dir=out) as s:
        s.run_all()
    for case in s.record.cases:  # shown by pytest when a verdict is not the one expected
        for check in case.checks:
            print(case.case_id, check.kind, check.verdict.value, check.summary)
    return s.record


def test_the_simulated_gateway_passes_every_case(plan: Plan, tmp_path: Path) -> None:
    record = _run(plan, "sim:cc-gw-1", tmp_path / "run")
    verdicts = {c.case_id: c.verdict for c in record.cases}
    assert set(verdicts.values()) == {Verdict.PASS}, verdicts
    traced = {r for c in record.cases for r in c.requirements}
    assert traced == {f"GW-00{n}" for n in range(1, 10)}
    assert record.identity is not None
    assert_agrees(evaluate_evidence(load_evidence(tmp_path / "run")))


def _traced(case: object) -> set[str]:
    reqs = set(case.requirements)  # type: ignore[attr-defined]
    for check in case.checks:  # type: ignore[attr-defined]
        reqs.update(check.requirements or ())
    return reqs


@pytest.mark.parametrize("variant", sorted(GW_VARIANTS))
def test_each_variant_fails_only_cases_of_its_requirement(
    plan: Plan, tmp_path: Path, variant: str
) -> None:
    record = _run(plan, f"sim:cc-gw-1:{variant}", tmp_path / "run")
    requirement = GW_VARIANTS[variant].requirement
    failing = [c for c in record.cases if c.verdict is not Verdict.PASS]
    assert failing, f"{variant} ({requirement}) passed every case"
    for case in failing:
        assert requirement in _traced(case), (case.case_id, case.requirements)
        # within a case, every check that fails traces the variant's requirement too
        for check in case.checks:
            if check.verdict is not Verdict.PASS:
                assert requirement in (check.requirements or case.requirements), check.summary


def _ics(tmp_path: Path, rate_limit: bool, fd_diagnostics: bool = True) -> Path:
    path = tmp_path / f"ics-{rate_limit}-{fd_diagnostics}.yaml"
    rate, fd = ("true" if flag else "false" for flag in (rate_limit, fd_diagnostics))
    path.write_text(
        "format: cc-harness-ics/1\npart: CC-GW-1 simulator\n"
        f"features: {{rate_limit: {rate}, fd_diagnostics: {fd}}}\n",
        encoding="utf-8",
    )
    return path


def _certify(tmp_path: Path, dut: str, ics: Path, name: str) -> tuple[int, dict, dict]:
    keys = tmp_path / "lab"
    if not keys.with_suffix(".key").exists():
        assert main(["keys", "generate", "--out", str(keys)]) == 0
    out = tmp_path / name
    argv = ["certify", str(PROFILE), "--dut", dut, "--ics", str(ics), "--quiet"]
    code = main([*argv, "--key", f"{keys}.key", "--out", str(out)])
    record = json.loads((out / "run.json").read_text())
    statement: dict = {}
    cert = out / "certificate.dsse.json"
    if cert.exists():
        envelope = json.loads(cert.read_text())
        statement = json.loads(base64.b64decode(envelope["payload"]))
    return code, record, statement


def test_without_rate_limit_gw006_is_not_applicable_and_not_claimed(tmp_path: Path) -> None:
    code, record, statement = _certify(
        tmp_path, "sim:cc-gw-1:no-rate-limit", _ics(tmp_path, False), "without"
    )
    assert code == 0
    verdicts = {c["id"]: c["verdict"] for c in record["cases"]}
    assert verdicts["TC-GW-006-BURST"] == verdicts["TC-GW-006-SPACING"] == "NOT_APPLICABLE"
    assert {v for k, v in verdicts.items() if "GW-006" not in k} == {"PASS"}
    assert "GW-006" in json.dumps(statement)
    assert "not_claimed" in json.dumps(statement)
    assert _not_claimed(statement) == ["GW-006"]


def _not_claimed(statement: dict) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "not_claimed" and isinstance(value, list):
                    found.extend(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(statement)
    return found


def test_the_part_without_a_rate_limiter_fails_when_it_claims_one(tmp_path: Path) -> None:
    code, record, statement = _certify(
        tmp_path, "sim:cc-gw-1:no-rate-limit", _ics(tmp_path, True), "with"
    )
    assert code != 0 and statement == {}  # no certificate for a failed run
    failing = {c["id"] for c in record["cases"] if c["verdict"] != "PASS"}
    assert failing == {"TC-GW-006-BURST", "TC-GW-006-SPACING"}


def test_a_classic_diagnostics_part_passes_only_under_a_statement_without_fd_diagnostics(
    tmp_path: Path,
) -> None:
    """GW-008: a part without fd_diagnostics answers in classic frames; TC-GW-008-FD is then
    not applicable, and the certificate carries the statement that leaves the feature out
    (GW-008 stays claimed: its other cases apply)."""
    dut = "sim:cc-gw-1:classic-diagnostics"
    code, record, statement = _certify(tmp_path, dut, _ics(tmp_path, True, False), "classic")
    verdicts = {c["id"]: c["verdict"] for c in record["cases"]}
    assert code == 0, verdicts
    assert verdicts.pop("TC-GW-008-FD") == "NOT_APPLICABLE"
    assert set(verdicts.values()) == {"PASS"}
    assert _not_claimed(statement) == []
    assert '"fd_diagnostics": false' in json.dumps(statement)

    code, record, statement = _certify(tmp_path, dut, _ics(tmp_path, True, True), "claims-fd")
    assert code != 0 and statement == {}
    failing = {c["id"] for c in record["cases"] if c["verdict"] != "PASS"}
    assert failing == {"TC-GW-008-FD"}


def test_certify_without_dut_runs_the_part_of_the_profiles_requirement_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newcomer's ``harness certify profiles/cc-gw-1.yaml``: the default ``--dut sim`` is
    the registered part implementing CC-GW-1, not the reference TCU (whose messages the
    gateway's DBCs do not have)."""
    out = tmp_path / "run"
    code = main(["certify", str(PROFILE), "--out", str(out), "--quiet"])
    said = capsys.readouterr()
    assert code == 0, said.out + said.err
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["dut"] == "sim:cc-gw-1" and record["passed"] is True
    tcu = load_profile(ROOT / "profiles" / "cc-tcu-1.yaml")
    assert DutChoice.parse_for("sim", tcu) == DutChoice("sim")  # the reference TCU's own
    assert DutChoice.parse_for("sim:cc-tcu-1", load_profile(PROFILE)).provider == "cc-tcu-1"

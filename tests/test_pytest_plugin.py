"""The pytest plugin, run for real with ``pytester`` on a copy of the repository's profile."""

from __future__ import annotations

import json
import re
import shutil
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.mqtt.broker import EmbeddedBroker
from harness.plan import Plan
from harness.profile.compile import load_profile

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PROFILE = "profiles/cc-tcu-1.yaml"
OFFENDER_DATA = re.compile(r"id 0x3A0 \[[0-9A-F]{2}( [0-9A-F]{2}){7}\]")


@pytest.fixture
def plan(pytester: pytest.Pytester) -> Plan:
    """The real profile and DBC copied into pytester's folder (profiles/ and dbc/ beside)."""
    (pytester.path / "profiles").mkdir()
    (pytester.path / "dbc").mkdir()
    shutil.copy(ROOT / PROFILE, pytester.path / PROFILE)
    shutil.copy(ROOT / "dbc" / "cc-tcu-1.dbc", pytester.path / "dbc" / "cc-tcu-1.dbc")
    shutil.copy(ROOT / "dbc" / "ccv2x.asn", pytester.path / "dbc" / "ccv2x.asn")
    return load_profile(pytester.path / PROFILE)


def case_ids(plan: Plan) -> list[str]:
    return [c.case_id for c in plan.cases]


def failed_ids(result: pytest.RunResult) -> list[str]:
    return re.findall(r"^FAILED \S+::(\S+)", result.stdout.str(), re.MULTILINE)


def evidence_dir(result: pytest.RunResult) -> Path:
    """The evidence folder the terminal summary names."""
    found = re.findall(r"^  evidence: (.+)$", result.stdout.str(), re.MULTILINE)
    assert len(found) == 1, result.stdout.str()
    return Path(found[0])


def test_one_item_per_case_named_by_case_id(pytester: pytest.Pytester, plan: Plan) -> None:
    result = pytester.runpytest(PROFILE, "--collect-only", "-q")
    lines = [ln for ln in result.stdout.lines if "::" in ln]
    assert lines == [f"{PROFILE}::{cid}" for cid in case_ids(plan)]
    assert f"{PROFILE}::TC-CAN-003" in lines


def test_profile_passes_against_the_simulator(pytester: pytest.Pytester, plan: Plan) -> None:
    result = pytester.runpytest(PROFILE)
    result.assert_outcomes(passed=len(plan.cases))
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert re.search(r"^  evidence: .*evidence[/\\]cc-tcu-1$", out, re.MULTILINE)
    for req in plan.requirement_ids:
        assert re.search(rf"^  {req} +PASS ", out, re.MULTILINE), req


def test_bad_crc_fails_exactly_the_crc_cases(pytester: pytest.Pytester, plan: Plan) -> None:
    result = pytester.runpytest(PROFILE, "--dut", "sim:bad-crc")
    # its own case, and the two CAN-008 cases whose checks show CAN-004 still holds under noise
    result.assert_outcomes(passed=len(plan.cases) - 3, failed=3)
    assert sorted(failed_ids(result)) == ["TC-CAN-004", "TC-CAN-008", "TC-CAN-008-FUZZ"]
    out = result.stdout.str()
    assert "bad CRC" in out
    assert OFFENDER_DATA.search(out)
    assert "Traceback" not in out
    assert "harness/runner.py" not in out
    assert re.search(r"^  CAN-004 +FAIL ", out, re.MULTILINE)


def test_keyword_selects_cases_by_requirement(pytester: pytest.Pytester, plan: Plan) -> None:
    tracing = [c.case_id for c in plan.cases if "CAN-003" in c.requirements]
    assert len(tracing) >= 2  # its own case and a check of another
    result = pytester.runpytest(PROFILE, "-k", "CAN-003", "--collect-only", "-q")
    assert [ln.split("::")[1] for ln in result.stdout.lines if "::" in ln] == tracing
    result = pytester.runpytest(PROFILE, "-m", "requirement(id='CAN-003')", "--collect-only", "-q")
    assert [ln.split("::")[1] for ln in result.stdout.lines if "::" in ln] == tracing


def test_junit_xml_has_requirement_and_verdict_properties(
    pytester: pytest.Pytester, plan: Plan
) -> None:
    xml_path = pytester.path / "report.xml"
    result = pytester.runpytest(PROFILE, "--dut", "sim:bad-crc", f"--junitxml={xml_path}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = xml_path.read_text()
    assert '<property name="requirement" value="CAN-004"' in text
    cases = {tc.get("name"): tc for tc in ET.parse(xml_path).getroot().iter("testcase")}
    assert set(cases) == set(case_ids(plan))

    def props(name: str) -> list[tuple[str | None, str | None]]:
        return [(p.get("name"), p.get("value")) for p in cases[name].iter("property")]

    assert props("TC-CAN-004") == [
        ("requirement", "CAN-004"),
        ("mandatory", "true"),
        ("verdict", "FAIL"),
    ]
    assert ("verdict", "PASS") in props("TC-CAN-003")


def test_broken_profile_is_a_located_collection_error(
    pytester: pytest.Pytester, plan: Plan
) -> None:
    text = (pytester.path / PROFILE).read_text()
    broken = text.replace(
        "{kind: alive_counter, message: TCU_Status}", "{kind: alive_countr, message: TCU_Status}", 1
    )
    assert broken != text
    (pytester.path / "profiles" / "broken.yaml").write_text(broken)
    result = pytester.runpytest("profiles/broken.yaml")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert re.search(
        r"profiles/broken\.yaml:\d+:\d+ cases\[\d+\]\.steps\[0\]\.checks\[0\]\.kind: "
        r"expected .*, but got 'alive_countr'",
        out,
    )
    assert "ERROR collecting profiles/broken.yaml" in out
    assert "Traceback" not in out


def test_only_named_yaml_files_are_collected(pytester: pytest.Pytester, plan: Plan) -> None:
    # A broken profile and a bench file in the tree, and a lab's own Python test.
    corpus = pytester.path / "corpus"
    corpus.mkdir()
    (corpus / "broken.yaml").write_text("format: cc-harness-profile/1\nprofile: 3\n")
    (corpus / "bench.yaml").write_text("format: cc-harness-bench/1\n")
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    # --profile alone runs the profile, not the tree
    result = pytester.runpytest("--profile", PROFILE)
    result.assert_outcomes(passed=len(plan.cases))
    # a bench file named explicitly is not taken for a profile
    result = pytester.runpytest("corpus/bench.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_optional_case_that_fails_is_xfail(pytester: pytest.Pytester, plan: Plan) -> None:
    text = (pytester.path / PROFILE).read_text()
    optional = text.replace("  - id: TC-CAN-004\n", "  - id: TC-CAN-004\n    mandatory: false\n", 1)
    assert optional != text
    (pytester.path / PROFILE).write_text(optional)
    result = pytester.runpytest(PROFILE, "--dut", "sim:bad-crc", "-rfx")
    result.assert_outcomes(passed=len(plan.cases) - 3, failed=2, xfailed=1)
    assert failed_ids(result) == ["TC-CAN-008", "TC-CAN-008-FUZZ"]
    result.stdout.re_match_lines(
        [r"XFAIL .*::TC-CAN-004 - optional case TC-CAN-004 FAIL: .*bad CRC"]
    )


LAB_TEST = """
from harness.can.lab import LabBus

def test_status_cycle_in_virtual_time(can_bus: LabBus, clock, dut) -> None:
    assert dut.choice.kind == "sim" and dut.tcu is not None
    t0 = clock.now()
    can_bus.run_for(1.0)
    assert clock.now() - t0 == 1.0
    frames = can_bus.frames("TCU_Status", since=t0)
    assert 9 <= len(frames) <= 11, len(frames)
    assert all(t0 <= f.timestamp <= t0 + 1.0 for f in frames)
    sent = can_bus.send(0x7DF, [0x02, 0x3E, 0x00])
    assert sent == clock.now()
    nxt = can_bus.wait_for("TCU_Status", timeout=0.2)
    assert nxt is not None and nxt.timestamp >= sent
    assert "AliveCounter" in can_bus.decode(nxt)

def test_same_session_as_the_cases(harness_session, bench) -> None:
    assert harness_session.record.profile_id == "cc-tcu-1"
    assert bench.name == "default bench"
"""


def test_lab_fixtures_share_the_session(pytester: pytest.Pytester, plan: Plan) -> None:
    pytester.makepyfile(test_lab=LAB_TEST)
    result = pytester.runpytest("--profile", PROFILE, "test_lab.py")
    result.assert_outcomes(passed=len(plan.cases) + 2)
    evidence = evidence_dir(result)
    assert evidence.parts[-2:] == ("evidence", "cc-tcu-1")  # under pytest's basetemp
    run = json.loads((evidence / "run.json").read_text())
    assert run["status"] == "COMPLETED"
    assert len(run["cases"]) == len(plan.cases)  # one session: one run record for all


def test_session_fixture_needs_profile(pytester: pytest.Pytester, plan: Plan) -> None:
    pytester.makepyfile(test_lab=LAB_TEST)
    result = pytester.runpytest("test_lab.py")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*the harness_session fixture needs --profile*"])
    assert "Traceback" not in result.stdout.str()


def test_evidence_folder_option(pytester: pytest.Pytester, plan: Plan) -> None:
    result = pytester.runpytest(PROFILE, "-k", "TC-CAN-003", "--evidence", "ev")
    result.assert_outcomes(passed=1)
    run = json.loads((pytester.path / "ev" / "cc-tcu-1" / "run.json").read_text())
    assert run["status"] == "COMPLETED" and [c["id"] for c in run["cases"]] == ["TC-CAN-003"]
    assert (pytester.path / "ev" / "cc-tcu-1" / "trace.blf").exists()
    # like `harness certify --out`, a folder that holds a run is never overwritten
    result = pytester.runpytest(PROFILE, "-k", "TC-CAN-003", "--evidence", "ev")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ev*cc-tcu-1 already holds a run*"])


def test_silent_external_dut_fails_every_case(pytester: pytest.Pytester, plan: Plan) -> None:
    with EmbeddedBroker() as broker:  # the lab's broker: an external DUT needs one named
        pytester.makefile(
            ".yaml",
            bench=f"format: cc-harness-bench/1\nname: nobody home\n"
            f"can:\n  interface: virtual\n  channel: cc-silent-{uuid.uuid4().hex}\n"
            f"mqtt: {{broker: {{host: {broker.host}, port: {broker.port}}}}}\n",
        )
        result = pytester.runpytest(PROFILE, "--dut", "external", "--bench", "bench.yaml")
    result.assert_outcomes(failed=len(plan.cases))
    out = result.stdout.str()
    assert sorted(failed_ids(result)) == sorted(case_ids(plan))
    # each failure's text is the harness's one-line message, nothing more
    shown = re.findall(r"^the DUT sent no TCU_Status \(0x3A0\) within 2 s", out, re.MULTILINE)
    assert len(shown) == len(plan.cases)
    assert "Traceback" not in out
    run = json.loads((evidence_dir(result) / "run.json").read_text())
    assert run["status"] == "INCOMPLETE" and run["mode"] == "realtime"
    # a run that never started still gets its report, marked incomplete (the outputs ran)
    assert "INCOMPLETE" in (evidence_dir(result) / "report" / "report.html").read_text()


def test_unknown_variant_is_a_usage_error(pytester: pytest.Pytester, plan: Plan) -> None:
    result = pytester.runpytest(PROFILE, "--dut", "sim:no-such-variant")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*expected the name of a faulty variant*bad-crc*"])


def test_a_case_the_bench_statement_excuses_is_skipped_not_passed(
    pytester: pytest.Pytester, plan: Plan
) -> None:
    bench = pytester.path / "bench.yaml"
    bench.write_text("format: cc-harness-bench/1\nconformance: {features: {will: false}}\n")
    result = pytester.runpytest(PROFILE, "--bench", str(bench), "-rs", "-k", "WILL or CAN-003")
    result.assert_outcomes(passed=3, skipped=1)  # -k CAN-003: its cases and TC-CAN-008s
    assert re.search(
        r"SKIPPED .*TC-V2X-001-WILL: NOT APPLICABLE: needs optional feature\(s\) will",
        result.stdout.str(),
    ), result.stdout.str()

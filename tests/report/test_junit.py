"""JUnit XML from a run record: well-formed, standard attributes, requirement properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.bench import Bench
from harness.offline import read_run
from harness.profile.compile import load_profile
from harness.record import RunRecord, Verdict
from harness.report.junit import junit_xml
from harness.session import DutChoice, Session
from tests.conftest import PROFILE, run_harness
from tests.report.conftest import MakeRun

_STANDARD = ("tests", "failures", "errors", "skipped", "time")


def _props(el: ET.Element) -> list[tuple[str, str]]:
    return [(p.get("name", ""), p.get("value", "")) for p in el.findall("properties/property")]


def _record(folder: Path) -> RunRecord:
    return read_run(folder)[1]


def test_failing_run_as_junit(make_run: MakeRun) -> None:
    record = _record(make_run("sim:slow-cycle"))
    root = ET.fromstring(junit_xml(record))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "cc-tcu-1"
    for attr in _STANDARD:
        assert suite.get(attr) is not None and root.get(attr) == suite.get(attr)
    cases = suite.findall("testcase")
    assert [tc.get("name") for tc in cases] == [c.case_id for c in record.cases]
    assert {tc.get("classname") for tc in cases} == {"cc-tcu-1"}
    failing = [c for c in record.cases if c.verdict is Verdict.FAIL]
    assert int(suite.get("tests", "")) == len(cases)
    assert int(suite.get("failures", "")) == len(failing) > 0
    assert suite.get("errors") == "0" and suite.get("skipped") == "0"
    for tc, case in zip(cases, record.cases, strict=True):
        props = _props(tc)
        assert [v for k, v in props if k == "requirement"] == list(case.requirements)
        assert ("verdict", case.verdict.value) in props
        assert ("mandatory", "true" if case.mandatory else "false") in props
        assert float(tc.get("time", "")) == pytest.approx(case.ended - case.started, abs=1e-6)
        failure = tc.find("failure")
        assert (failure is not None) == (case.verdict is Verdict.FAIL)
        if failure is not None:
            bad = next(c for c in case.checks if c.verdict is Verdict.FAIL)
            assert bad.summary in failure.get("message", "")
            assert "at t=" in (failure.text or "")
    suite_props = dict(_props(suite))
    assert suite_props["requirement.CAN-001"] == "FAIL"
    assert suite_props["passed"] == "false" and suite_props["dut"] == "sim:slow-cycle"


def test_incomplete_run_lists_the_cases_it_never_reached(tmp_path: Path) -> None:
    plan = load_profile(PROFILE)
    session = Session(plan, Bench(), DutChoice.parse("sim"), out_dir=tmp_path / "ev")
    with pytest.raises(KeyboardInterrupt), session:
        session.run_case(plan.cases[0])
        raise KeyboardInterrupt
    suite = ET.fromstring(junit_xml(session.record, plan.cases)).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(plan.cases)
    assert int(suite.get("errors", "")) == len(plan.cases) - 1
    missing = cases[1]
    err = missing.find("error")
    assert err is not None and "not run: the run is ABORTED" in err.get("message", "")
    assert ("verdict", "NOT RUN") in _props(missing)
    # Without the plan, one error stands for the whole run.
    alone = ET.fromstring(junit_xml(session.record)).find("testsuite")
    assert alone is not None and alone.get("errors") == "1"


def test_certify_writes_junit_into_the_folder_and_a_copy(tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    copy = tmp_path / "ci" / "junit.xml"
    result = run_harness(
        ["certify", str(PROFILE), "--dut", "sim:bad-crc", "--out", str(out), "--junit", str(copy)]
    )
    assert result.returncode == 1, result.stdout + result.stderr
    inside = out / "report" / "junit.xml"
    assert inside.read_bytes() == copy.read_bytes()
    suite = ET.parse(copy).getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures", "")) >= 1
    assert (out / "report" / "report.html").is_file()

"""Outputs as observers: ``harness certify`` and ``pytest profile.yaml`` write the same
evidence folder, report, JUnit and certificate, and no certificate for a run that failed, was
interrupted or ran a selection; a lab's output is called on every way a run ends."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from harness.bench import Bench
from harness.certificate.keys import KeyPair, generate_key_pair
from harness.cli import main
from harness.errors import HarnessError
from harness.evidence import CERTIFICATE_FILE
from harness.profile.compile import Plan, PlannedCase, load_profile
from harness.record import CaseRecord
from harness.run_outputs import OUTPUTS, Output, OutputSettings, RunEnd, RunStart, make_outputs
from harness.session import DutChoice, Session
from tests.conftest import PROFILE, ROOT

pytest_plugins = ["pytester"]

REL_PROFILE = "profiles/cc-tcu-1.yaml"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return generate_key_pair(tmp_path_factory.mktemp("keys") / "issuer")


@pytest.fixture
def copied(pytester: pytest.Pytester) -> Plan:
    """The repository's profile, DBC and ASN.1 copied into pytester's folder."""
    for sub in ("profiles", "dbc"):
        (pytester.path / sub).mkdir()
    shutil.copy(PROFILE, pytester.path / REL_PROFILE)
    for name in ("cc-tcu-1.dbc", "ccv2x.asn"):
        shutil.copy(ROOT / "dbc" / name, pytester.path / "dbc" / name)
    return load_profile(pytester.path / REL_PROFILE)


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def verify(cert_dir: Path, key: KeyPair) -> int:
    return main(
        ["verify", str(cert_dir / CERTIFICATE_FILE), "--key", str(key.public), "--evidence",
         str(cert_dir)]
    )  # fmt: skip


def test_pytest_writes_what_certify_writes(
    pytester: pytest.Pytester, copied: Plan, key: KeyPair, tmp_path: Path
) -> None:
    by_cli = tmp_path / "certify"
    assert main(["certify", str(PROFILE), "--out", str(by_cli), "--quiet", "--key",
                 str(key.private)]) == 0  # fmt: skip
    junit = pytester.path / "extra.xml"
    result = pytester.runpytest(
        REL_PROFILE, "--out", "ev", "--key", str(key.private), "--junit", str(junit)
    )
    result.assert_outcomes(passed=len(copied.cases))
    by_pytest = pytester.path / "ev"
    assert files(by_pytest) == files(by_cli)
    assert {"report/report.html", "report/junit.xml", CERTIFICATE_FILE} <= files(by_pytest)
    assert verify(by_pytest, key) == 0
    out = result.stdout.str()
    assert f"  certificate: {by_pytest / CERTIFICATE_FILE}" in out
    assert f"  report: {by_pytest / 'report' / 'report.html'}" in out
    # the harness's JUnit (its own properties), here and at --junit, beside pytest's
    xml = junit.read_text()
    assert xml == (by_pytest / "report" / "junit.xml").read_text()
    assert '<property name="status" value="COMPLETED"' in xml
    run = json.loads((by_pytest / "run.json").read_text())
    assert run["status"] == "COMPLETED" and run["selected_cases"] is None


def test_no_certificate_when_a_case_fails(
    pytester: pytest.Pytester, copied: Plan, key: KeyPair
) -> None:
    result = pytester.runpytest(
        REL_PROFILE, "--dut", "sim:bad-crc", "--out", "ev", "--key", str(key.private)
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    ev = pytester.path / "ev"
    assert not (ev / CERTIFICATE_FILE).exists()
    assert (ev / "report" / "report.html").is_file()
    result.stdout.fnmatch_lines(["*no certificate: mandatory case(s) did not pass: TC-CAN-004*"])


INTERRUPT_AFTER_CAN_003 = """
def pytest_runtest_logreport(report):
    if report.when == "call" and report.nodeid.endswith("::TC-CAN-003"):
        raise KeyboardInterrupt
"""


def test_interrupted_run_gets_its_report_and_no_certificate(
    pytester: pytest.Pytester, copied: Plan, key: KeyPair
) -> None:
    pytester.makeconftest(INTERRUPT_AFTER_CAN_003)
    result = pytester.runpytest(
        REL_PROFILE, "--out", "ev", "--key", str(key.private), no_reraise_ctrlc=True
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    ev = pytester.path / "ev"
    run = json.loads((ev / "run.json").read_text())
    assert run["status"] == "ABORTED"
    assert run["cases"] and len(run["cases"]) < len(copied.cases)
    assert not (ev / CERTIFICATE_FILE).exists()
    assert "INCOMPLETE" in (ev / "report" / "report.html").read_text()
    assert 'type="ABORTED"' in (ev / "report" / "junit.xml").read_text()
    result.stdout.fnmatch_lines(["*no certificate: the run was aborted*"])


def test_selected_cases_get_no_certificate(
    pytester: pytest.Pytester, copied: Plan, key: KeyPair
) -> None:
    result = pytester.runpytest(
        REL_PROFILE, "-k", "TC-CAN-003", "--out", "ev", "--key", str(key.private)
    )
    result.assert_outcomes(passed=1)
    run = json.loads((pytester.path / "ev" / "run.json").read_text())
    assert run["status"] == "COMPLETED" and run["selected_cases"] == ["TC-CAN-003"]
    assert not (pytester.path / "ev" / CERTIFICATE_FILE).exists()
    result.stdout.fnmatch_lines(["*no certificate: only the chosen case(s) TC-CAN-003*"])


def test_output_options_are_usage_errors(pytester: pytest.Pytester, copied: Plan) -> None:
    result = pytester.runpytest(REL_PROFILE, "--output", "html,nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown output*nosuch*"])
    result = pytester.runpytest(REL_PROFILE, "--key", "missing.key")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result = pytester.runpytest(REL_PROFILE, "--validity", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


# -- the protocol, with a lab's own output ----------------------------------------------------
class Probe(Output):
    """Records the hooks it sees; raises where told to."""

    calls: ClassVar[list[str]] = []
    fail_with: ClassVar[BaseException | None] = None

    def run_started(self, start: RunStart) -> None:
        self.calls.append(f"started {start.record.status.value}")

    def case_started(self, case: PlannedCase, index: int, total: int) -> None:
        self.calls.append(f"case {case.case_id} {index}/{total}")

    def case_finished(self, record: CaseRecord) -> None:
        self.calls.append(f"finished {record.case_id} {record.verdict.value}")

    def run_finished(self, end: RunEnd) -> None:
        sealed = end.evidence is not None and (end.evidence / "manifest.json").is_file()
        self.calls.append(f"ended {end.status.value} sealed={sealed}")
        if self.fail_with is not None:
            raise self.fail_with


@pytest.fixture
def probe() -> Iterator[type[Probe]]:
    Probe.calls = []
    Probe.fail_with = None
    OUTPUTS.register("probe", Probe)
    yield Probe
    OUTPUTS.unregister("probe")


def test_a_registered_output_sees_every_hook(probe: type[Probe], tmp_path: Path) -> None:
    plan = load_profile(PROFILE)
    outputs = make_outputs(OutputSettings(), ["probe", "html"])
    assert [type(o).__name__ for o in outputs] == ["HtmlOutput", "Probe"]
    with Session(
        plan, Bench(), DutChoice.parse("sim"), out_dir=tmp_path / "ev", outputs=outputs
    ) as s:
        s.run_all([plan.case("TC-CAN-003")])
    assert Probe.calls == [
        "started RUNNING",
        "case TC-CAN-003 0/1",
        "finished TC-CAN-003 PASS",
        "ended COMPLETED sealed=True",
    ]
    assert (tmp_path / "ev" / "report" / "report.html").is_file()


def test_an_output_error_does_not_stop_the_others(probe: type[Probe], tmp_path: Path) -> None:
    plan = load_profile(PROFILE)
    Probe.fail_with = HarnessError("the probe broke")
    outputs = make_outputs(OutputSettings(), ["probe", "junit"])
    outputs.reverse()  # the probe first: junit must still be written
    session = Session(
        plan, Bench(), DutChoice.parse("sim"), out_dir=tmp_path / "ev", outputs=outputs
    )
    with pytest.raises(HarnessError, match="the probe broke"), session:
        session.run_all([plan.case("TC-CAN-003")])
    assert (tmp_path / "ev" / "report" / "junit.xml").is_file()


def test_an_outputs_bug_is_a_harness_error_naming_it(probe: type[Probe], tmp_path: Path) -> None:
    plan = load_profile(PROFILE)
    Probe.fail_with = ZeroDivisionError("division by zero")
    outputs = make_outputs(OutputSettings(), ["probe"])
    session = Session(plan, Bench(), DutChoice.parse("sim"), outputs=outputs)
    with pytest.raises(HarnessError, match="output probe failed: ZeroDivisionError"), session:
        session.run_all([plan.case("TC-CAN-003")])


def test_a_run_that_cannot_start_still_ends_its_outputs(probe: type[Probe], tmp_path: Path) -> None:
    plan = load_profile(PROFILE)
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "run.json").write_text("{}")  # another run holds the folder
    outputs = make_outputs(OutputSettings(), ["probe", "html"])
    session = Session(
        plan, Bench(), DutChoice.parse("sim"), out_dir=tmp_path / "ev", outputs=outputs
    )
    with pytest.raises(HarnessError, match="already holds a run"), session:
        pass
    assert Probe.calls == ["started RUNNING", "ended INCOMPLETE sealed=False"]
    assert not (tmp_path / "ev" / "report").exists()  # never into a folder not ours


def test_certify_console_output_can_be_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ev"
    assert main(["certify", str(PROFILE), "--out", str(out), "--case", "TC-CAN-003",
                 "--output", "html"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "PASSED" not in printed  # no console summary
    assert re.search(r"report: .*report\.html", printed)
    assert not (out / "report" / "junit.xml").exists()

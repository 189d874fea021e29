"""JUnit XML from a run record, for CI systems to show cases and requirements as tests.

One ``<testsuite>`` per run (named by the profile), one ``<testcase>`` per case: ``classname``
is the profile ID, ``name`` the case ID, ``time`` the case's bus time in seconds. A case that
FAILs or is INCONCLUSIVE has a ``<failure>`` listing its non-passing checks, an ERROR case an
``<error>``, a SKIPPED case ``<skipped>``. Each testcase carries properties ``requirement``
(one per requirement ID), ``mandatory`` and ``verdict``, as the pytest plugin writes them. A
run that did not complete adds an ``<error>`` test case per planned case it never reached (or
one for the run, without the plan), so CI cannot mistake it for a pass.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from harness.plan import PlannedCase
from harness.record import CaseRecord, RunRecord, RunStatus, Verdict

__all__ = ["junit_xml"]

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    """Text XML 1.0 can hold (control characters dropped)."""
    return _NOT_XML.sub("", value)


def _properties(parent: ET.Element, items: Sequence[tuple[str, str]]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in items:
        ET.SubElement(props, "property", name=name, value=_text(value))


def _details(case: CaseRecord) -> str:
    lines = []
    for check in case.checks:
        if check.verdict is Verdict.PASS:
            continue
        lines.append(f"{check.verdict.value} {check.label}: {check.summary}")
        if check.offender is not None:
            lines.append(f"    {check.offender.describe()}")
    if case.error:
        lines.append(f"error: {case.error}")
    for fuzz in case.fuzz:
        for finding in fuzz.findings:
            lines.append(f"fuzz finding (seed {fuzz.seed}): {finding.get('summary', '')}")
    return "\n".join(lines)


def _testcase(suite: ET.Element, classname: str, case: CaseRecord) -> None:
    tc = ET.SubElement(
        suite,
        "testcase",
        classname=classname,
        name=case.case_id,
        time=f"{max(case.ended - case.started, 0.0):.6f}",
    )
    _properties(
        tc,
        [
            *(("requirement", req) for req in case.requirements),
            ("mandatory", "true" if case.mandatory else "false"),
            ("verdict", case.verdict.value),
            *(("fuzz_seed", f"{f.step}={f.seed}") for f in case.fuzz),
        ],
    )
    details = _text(_details(case))
    first = details.splitlines()[0] if details else case.verdict.value
    if case.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
        el = ET.SubElement(tc, "failure", message=first, type=case.verdict.value)
        el.text = details
    elif case.verdict is Verdict.ERROR:
        el = ET.SubElement(tc, "error", message=first, type="ERROR")
        el.text = details
    elif case.verdict is Verdict.SKIPPED:
        ET.SubElement(tc, "skipped", message="every check was skipped")
    elif case.verdict is Verdict.NOT_APPLICABLE:
        message = f"NOT APPLICABLE: {case.not_applicable or 'the part lacks a feature it needs'}"
        ET.SubElement(tc, "skipped", message=message, type="NOT_APPLICABLE")
    ET.SubElement(tc, "system-out").text = _text(f"{case.title}\n{details}".rstrip())


def junit_xml(record: RunRecord, planned: Sequence[PlannedCase] = ()) -> str:
    """The JUnit XML document of ``record``; ``planned`` names cases an incomplete run missed."""
    suite = ET.Element("testsuite", name=record.profile_id)
    _properties(
        suite,
        [
            ("profile.version", record.profile_version),
            ("profile.sha256", record.profile_digest),
            ("dbc.sha256", record.dbc_digest),
            ("dut", record.dut),
            *((f"dut.{k}", v) for k, v in record.identity.items()),
            ("mode", record.mode),
            ("run_id", record.run_id),
            ("status", record.status.value),
            ("passed", "true" if record.passed else "false"),
            ("harness_version", record.harness_version),
            *((f"requirement.{k}", v.value) for k, v in record.requirement_verdicts().items()),
        ],
    )
    for case in record.cases:
        _testcase(suite, record.profile_id, case)
    missing_reason = f"not run: the run is {record.status.value}" + (
        f" ({record.error})" if record.error else ""
    )
    if record.status is not RunStatus.COMPLETED:
        done = {c.case_id for c in record.cases}
        missing = [p for p in planned if p.case_id not in done]
        for p in missing:
            tc = ET.SubElement(suite, "testcase", classname=record.profile_id, name=p.case_id)
            tc.set("time", "0")
            _properties(
                tc,
                [
                    *(("requirement", req) for req in p.requirements),
                    ("mandatory", "true" if p.mandatory else "false"),
                    ("verdict", "NOT RUN"),
                ],
            )
            ET.SubElement(tc, "error", message=_text(missing_reason), type=record.status.value)
        if not missing:
            tc = ET.SubElement(suite, "testcase", classname=record.profile_id, name="(run)")
            tc.set("time", "0")
            ET.SubElement(tc, "error", message=_text(missing_reason), type=record.status.value)
    cases = suite.findall("testcase")
    counts = {
        "tests": len(cases),
        "failures": sum(1 for tc in cases if tc.find("failure") is not None),
        "errors": sum(1 for tc in cases if tc.find("error") is not None),
        "skipped": sum(1 for tc in cases if tc.find("skipped") is not None),
    }
    total = sum(max(c.ended - c.started, 0.0) for c in record.cases)
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{total:.6f}")
    suite.set("timestamp", record.started_wall)
    root = ET.Element("testsuites", name=f"harness certify {record.profile_id}")
    for key, value in counts.items():
        root.set(key, str(value))
    root.set("time", f"{total:.6f}")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

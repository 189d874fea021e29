"""The five criteria of a qualification, each a pure function of the runs it judges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.qualify.model import QualificationRun, VariantOutcome, VariantVerdict
from harness.record import CaseRecord, RunRecord, RunStatus, Verdict

__all__ = [
    "Criterion",
    "no_flaky_verdicts",
    "no_spurious_failures",
    "reference_passes",
    "simulated_deterministic",
    "variants_caught",
]


@dataclass(frozen=True)
class Criterion:
    """One qualification criterion: whether it holds, why, and the evidence for it."""

    key: str
    title: str
    passed: bool
    explanation: str
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "title": self.title,
            "passed": self.passed,
            "explanation": self.explanation,
            "details": list(self.details),
        }


def _why(case: CaseRecord) -> str:
    """``: <summary of its first check that did not pass>`` (or the case's error)."""
    if case.error:
        return f": {case.error}"
    check = next((k for k in case.checks if k.verdict is not Verdict.PASS), None)
    return f": {check.summary}" if check is not None else ""


def _all(n: int) -> str:
    return "both" if n == 2 else f"all {n}"


def _signature(record: RunRecord) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Per case: its verdict and its checks' verdicts, in order."""
    return {
        c.case_id: (c.verdict.value, tuple(k.verdict.value for k in c.checks)) for c in record.cases
    }


def _check_name(plan_case: CaseRecord | None, index: int) -> str:
    if plan_case is not None and index < len(plan_case.checks):
        check = plan_case.checks[index]
        return f"check {index + 1} '{check.label or check.kind}'"
    return f"check {index + 1}"


# A case the part's conformance statement excuses counts as neither passed nor failed.
_APPLIED_OR_PASSED = (Verdict.PASS, Verdict.NOT_APPLICABLE)


def reference_passes(refs: Sequence[QualificationRun]) -> Criterion:
    title = "every reference run completes and passes every mandatory case"
    bad: list[str] = []
    for run in refs:
        rec = run.record
        if rec.status is not RunStatus.COMPLETED:
            bad.append(f"{run.spec.name}: {rec.status.value}: {rec.error or 'did not complete'}")
            continue
        failed = [
            f"{c.case_id} {c.verdict.value}{_why(c)}"
            for c in rec.cases
            if c.mandatory and c.verdict not in _APPLIED_OR_PASSED
        ]
        if failed:
            bad.append(f"{run.spec.name}: " + ", ".join(failed))
    if not refs:
        return Criterion("reference-passes", title, False, "no reference run was carried out")
    if bad:
        return Criterion(
            "reference-passes",
            title,
            False,
            f"{len(bad)} of {len(refs)} reference runs did not pass",
            tuple(bad),
        )
    every_case = all(c.verdict in _APPLIED_OR_PASSED for r in refs for c in r.record.cases)
    what = "every case" if every_case else "every mandatory case"
    if any(c.verdict is Verdict.NOT_APPLICABLE for r in refs for c in r.record.cases):
        what += " that applies to the part (its conformance statement)"
    return Criterion(
        "reference-passes", title, True, f"{_all(len(refs))} reference runs passed {what}"
    )


def no_flaky_verdicts(refs: Sequence[QualificationRun]) -> Criterion:
    title = "every case and check has the same verdict in every reference run"
    if len(refs) < 2:
        return Criterion(
            "no-flaky-verdicts", title, True, f"{len(refs)} reference run: nothing to compare"
        )
    sigs = [(_signature(r.record), r) for r in refs]
    case_ids: list[str] = []
    for sig, _run in sigs:
        case_ids.extend(c for c in sig if c not in case_ids)
    details: list[str] = []
    for case_id in case_ids:
        present = [(sig[case_id], run) for sig, run in sigs if case_id in sig]
        verdicts = {v for (v, _), _run in present}
        if len(verdicts) > 1:
            details.append(f"{case_id}: " + _spread([(v, run) for (v, _), run in present]))
        n_checks = max(len(checks) for (_, checks), _run in present)
        example = next(
            (c for _s, run in sigs for c in run.record.cases if c.case_id == case_id), None
        )
        for i in range(n_checks):
            per_run = [
                (checks[i] if i < len(checks) else "absent", run) for (_, checks), run in present
            ]
            if len({v for v, _ in per_run}) > 1:
                details.append(f"{case_id} {_check_name(example, i)}: {_spread(per_run)}")
    if details:
        return Criterion(
            "no-flaky-verdicts",
            title,
            False,
            f"verdicts differ between the {len(refs)} reference runs in {len(details)} places",
            tuple(details),
        )
    return Criterion(
        "no-flaky-verdicts",
        title,
        True,
        f"{len(case_ids)} cases and their checks: identical verdicts in all {len(refs)} "
        "reference runs (simulated and real time)",
    )


def _spread(per_run: Sequence[tuple[str, QualificationRun]]) -> str:
    """``PASS in 9 runs, FAIL in reference-realtime-2``: the rare verdicts name their runs."""
    groups: dict[str, list[str]] = {}
    for verdict, run in per_run:
        groups.setdefault(verdict, []).append(run.spec.name)
    parts = []
    for verdict, names in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        shown = f"{len(names)} runs" if len(names) > 3 else ", ".join(names)
        parts.append(f"{verdict} in {shown}")
    return "; ".join(parts)


def simulated_deterministic(sims: Sequence[QualificationRun]) -> Criterion:
    title = "the simulated reference runs' case records are identical"
    if len(sims) < 2:
        return Criterion(
            "simulated-deterministic",
            title,
            True,
            f"{len(sims)} simulated reference run: nothing to compare",
        )
    first = sims[0]
    base = {c.case_id: c.to_json() for c in first.record.cases}
    details: list[str] = []
    for run in sims[1:]:
        cases = {c.case_id: c.to_json() for c in run.record.cases}
        differ = [cid for cid in base.keys() | cases.keys() if base.get(cid) != cases.get(cid)]
        if differ:
            order = list(base) + [c for c in cases if c not in base]
            differ.sort(key=order.index)
            details.append(
                f"{run.spec.name} differs from {first.spec.name} in " + ", ".join(differ)
            )
    if details:
        return Criterion(
            "simulated-deterministic",
            title,
            False,
            f"{len(details)} of {len(sims) - 1} simulated runs differ from the first",
            tuple(details),
        )
    return Criterion(
        "simulated-deterministic",
        title,
        True,
        f"{_all(len(sims))} simulated reference runs recorded identical cases (verdicts, "
        "measurements, limits, offenders, markers)",
    )


def variants_caught(outcomes: Sequence[VariantOutcome]) -> Criterion:
    title = "every variant in scope is caught by a case tracing its requirement"
    in_scope = [o for o in outcomes if o.in_scope]
    if not in_scope:
        return Criterion(
            "variants-caught",
            title,
            False,
            "no faulty variant is in scope: the harness was not shown to fail a part",
        )
    missed = [o for o in in_scope if not o.detecting_cases]
    if missed:
        return Criterion(
            "variants-caught",
            title,
            False,
            f"{len(missed)} of {len(in_scope)} variants in scope were not caught: "
            + ", ".join(o.variant.name for o in missed),
            tuple(f"{o.variant.name} ({o.variant.requirement}): {o.explanation}" for o in missed),
        )
    return Criterion(
        "variants-caught",
        title,
        True,
        f"{_all(len(in_scope))} variants in scope failed a case tracing their requirement",
    )


def no_spurious_failures(outcomes: Sequence[VariantOutcome]) -> Criterion:
    title = "no variant fails what does not trace its requirement, errs or stops"
    bad = [
        o
        for o in outcomes
        if o.verdict in (VariantVerdict.SPURIOUS, VariantVerdict.ERROR, VariantVerdict.INCOMPLETE)
    ]
    ran = [o for o in outcomes if o.verdict is not VariantVerdict.NOT_RUN]
    if bad:
        return Criterion(
            "no-spurious-failures",
            title,
            False,
            f"{len(bad)} of {len(ran)} variant runs were not clean: "
            + ", ".join(f"{o.variant.name} ({o.verdict.value})" for o in bad),
            tuple(f"{o.variant.name} ({o.variant.requirement}): {o.explanation}" for o in bad),
        )
    return Criterion(
        "no-spurious-failures",
        title,
        True,
        f"{len(ran)} variant runs completed; every case or check they failed traces the "
        "variant's requirement, and none ended in ERROR",
    )

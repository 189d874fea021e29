"""What a qualification runs and how one variant's run is judged.

:func:`assess_variant` is the rule every consumer shares (the ``qualify`` command, the
certification tests): a variant is caught when a case tracing its requirement FAILs and
nothing that does not trace it fails.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from harness.record import CaseRecord, RunRecord, RunStatus, Verdict

if TYPE_CHECKING:  # annotations only: importing the package stays light
    from harness.plan import Plan
    from harness.sim.variants import Variant

__all__ = [
    "QUALIFICATION_FORMAT",
    "QualificationRun",
    "RunSpec",
    "VariantOutcome",
    "VariantVerdict",
    "assess_variant",
    "traced_requirements",
]

QUALIFICATION_FORMAT = "cc-harness-qualification/1"
_NOT_CLEAN = {Verdict.FAIL, Verdict.ERROR, Verdict.INCONCLUSIVE}  # check verdicts that accuse
_NA = Verdict.NOT_APPLICABLE


class VariantVerdict(str, enum.Enum):
    """What one variant's run showed about the harness."""

    CAUGHT = "caught"  # failed by a case tracing its requirement, and by nothing else
    MISSED = "missed"  # no case tracing its requirement failed
    SPURIOUS = "spurious"  # a case or check not tracing its requirement failed
    ERROR = "error"  # a case ended in ERROR or INCONCLUSIVE instead of a clean FAIL
    INCOMPLETE = "incomplete"  # the run did not complete
    OUT_OF_SCOPE = "out of scope"  # no case of the profile traces its requirement
    NOT_RUN = "not run"  # the qualification was interrupted before it ran


@dataclass(frozen=True)
class RunSpec:
    """One run of a qualification: the reference simulator or one faulty variant."""

    name: str  # unique in the qualification, also its evidence folder's name
    kind: str  # "reference" or "variant"
    realtime: bool = False
    variant: str | None = None
    dut: str = "cc-tcu-1"  # the simulated DUT (harness.dut provider) the variant belongs to

    @property
    def dut_option(self) -> str:
        """The run's ``--dut``, in the short spelling for the reference TCU (``sim:VARIANT``)."""
        dut = "sim" if self.dut == "cc-tcu-1" else f"sim:{self.dut}"
        return dut + (f":{self.variant}" if self.variant else "")

    @property
    def mode(self) -> str:
        return "realtime" if self.realtime else "simulated"

    def describe(self) -> str:
        if self.variant is not None:
            return f"variant {self.variant}"
        return f"reference {self.mode} {self.name.rsplit('-', 1)[-1]}"


@dataclass(frozen=True)
class QualificationRun:
    """A run that was carried out: its spec, its record, how long it took, its evidence."""

    spec: RunSpec
    record: RunRecord
    seconds: float
    evidence: str | None = None  # evidence folder, when kept
    worker: str | None = None  # the queue worker (bench) that ran it; None: this process's


@dataclass(frozen=True)
class VariantOutcome:
    """The verdict on one variant, with the cases that support it."""

    variant: Variant
    verdict: VariantVerdict
    tracing_cases: tuple[str, ...]  # cases of the profile that trace the requirement
    detecting_cases: tuple[str, ...] = ()  # tracing cases that FAILed
    spurious: tuple[str, ...] = ()  # what failed without tracing the requirement
    unclean: tuple[str, ...] = ()  # cases that ended in ERROR / INCONCLUSIVE / SKIPPED
    explanation: str = ""

    @property
    def in_scope(self) -> bool:
        return bool(self.tracing_cases)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.variant.name,
            "requirement": self.variant.requirement,
            "description": self.variant.description,
            "verdict": self.verdict.value,
            "in_scope": self.in_scope,
            "tracing_cases": list(self.tracing_cases),
            "detecting_cases": list(self.detecting_cases),
            "spurious": list(self.spurious),
            "unclean": list(self.unclean),
            "explanation": self.explanation,
        }


def traced_requirements(plan: Plan) -> set[str]:
    """The requirements some case of ``plan`` traces (its own or one of its checks')."""
    return {req for case in plan.cases for req in case.requirements}


def assess_variant(variant: Variant, record: RunRecord | None, plan: Plan) -> VariantOutcome:
    """Judge one variant's run: caught cleanly, missed, spurious, unclean or incomplete.

    A variant is caught when at least one case tracing its requirement FAILs and every case
    that did not pass is a FAIL of a case tracing the requirement; in addition every failing
    check must trace the requirement itself (a case tracing it may hold checks of other
    requirements, and those must pass). ``record`` None means the run never happened.
    """
    req = variant.requirement
    excused = (  # cases the part's conformance statement makes NOT_APPLICABLE
        set() if record is None else {c.case_id for c in record.cases if c.verdict is _NA}
    )
    tracing = tuple(
        c.case_id for c in plan.cases if req in c.requirements and c.case_id not in excused
    )
    if record is None:
        return VariantOutcome(
            variant, VariantVerdict.NOT_RUN, tracing, explanation="the run was not carried out"
        )
    detecting = tuple(
        c.case_id for c in record.cases if c.verdict is Verdict.FAIL and req in c.requirements
    )
    spurious: list[str] = []
    unclean: list[str] = []
    for case in record.cases:
        if case.verdict in (Verdict.PASS, _NA):  # not applicable: neither caught nor missed
            continue
        if req not in case.requirements:
            traces = ", ".join(case.requirements)
            spurious.append(f"{case.case_id} {case.verdict.value} (traces only {traces})")
            continue
        if case.verdict is not Verdict.FAIL:
            unclean.append(f"{case.case_id} {case.verdict.value}" + _error_note(case))
        for i, check in enumerate(case.checks):
            reqs = check.requirements or case.requirements
            if check.verdict in _NOT_CLEAN and req not in reqs:
                spurious.append(
                    f"{case.case_id} check {i + 1} '{check.label or check.kind}' "
                    f"{check.verdict.value} (traces only {', '.join(reqs)})"
                )
    base = VariantOutcome(
        variant,
        VariantVerdict.CAUGHT,
        tracing,
        detecting_cases=detecting,
        spurious=tuple(spurious),
        unclean=tuple(unclean),
    )
    if record.status is not RunStatus.COMPLETED:
        why = record.error or "the run did not complete"
        verdict, explanation = VariantVerdict.INCOMPLETE, f"run {record.status.value}: {why}"
    elif spurious:
        verdict = VariantVerdict.SPURIOUS
        explanation = f"breaks {req} but failed what does not trace it: " + "; ".join(spurious)
    elif unclean:
        verdict = VariantVerdict.ERROR
        explanation = "cases ended without a clean FAIL: " + "; ".join(unclean)
    elif not tracing:
        verdict = VariantVerdict.OUT_OF_SCOPE
        explanation = f"no case of the profile traces {req}; every case passed"
        if any(req in c.requirements for c in plan.cases):
            explanation = (
                f"every case tracing {req} is NOT APPLICABLE to the part (its conformance "
                "statement); every other case passed"
            )
    elif not detecting:
        verdict = VariantVerdict.MISSED
        explanation = f"breaks {req}, yet every case tracing it passed: " + ", ".join(tracing)
    else:
        verdict = VariantVerdict.CAUGHT
        explanation = (
            f"failed {', '.join(detecting)} (of {len(tracing)} cases tracing {req}); "
            "every other case passed"
        )
    return replace(base, verdict=verdict, explanation=explanation)


def _error_note(case: CaseRecord) -> str:
    return f": {case.error}" if case.error else ""

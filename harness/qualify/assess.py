"""The assessed qualification: criteria, variant outcomes, matrix, and its JSON form."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.qualify.criteria import (
    Criterion,
    no_flaky_verdicts,
    no_spurious_failures,
    reference_passes,
    simulated_deterministic,
    variants_caught,
)
from harness.qualify.model import (
    QUALIFICATION_FORMAT,
    QualificationRun,
    RunSpec,
    VariantOutcome,
    assess_variant,
    traced_requirements,
)
from harness.record import RunStatus

if TYPE_CHECKING:  # annotations only: importing the package stays light
    from harness.plan import Plan
    from harness.sim.variants import Variant

__all__ = ["Qualification", "assess", "machine_description"]

EXIT_QUALIFIED, EXIT_NOT_QUALIFIED, EXIT_INCOMPLETE = 0, 1, 3


@dataclass
class Qualification:
    """The assessed qualification: runs, per-variant outcomes, criteria, overall verdict."""

    plan: Plan
    specs: Sequence[RunSpec]
    runs: Sequence[QualificationRun]
    outcomes: list[VariantOutcome]
    criteria: list[Criterion]
    out_of_scope: list[str]
    requirements_without_variant: list[str]
    incomplete_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    seed: int | None = None  # the fuzz run seed every run used

    @property
    def complete(self) -> bool:
        return self.incomplete_reason is None

    @property
    def qualified(self) -> bool:
        return self.complete and all(c.passed for c in self.criteria)

    @property
    def verdict(self) -> str:
        if not self.complete:
            return "INCOMPLETE"
        return "QUALIFIED" if self.qualified else "NOT QUALIFIED"

    @property
    def exit_code(self) -> int:
        if not self.complete:
            return EXIT_INCOMPLETE
        return EXIT_QUALIFIED if self.qualified else EXIT_NOT_QUALIFIED

    def run_of(self, name: str) -> QualificationRun | None:
        return next((r for r in self.runs if r.spec.name == name), None)

    def reference_cells(self) -> dict[str, dict[str, int]]:
        """Per case, how many reference runs gave each verdict."""
        out: dict[str, dict[str, int]] = {c.case_id: {} for c in self.plan.cases}
        for run in self.runs:
            if run.spec.kind != "reference":
                continue
            for case in run.record.cases:
                tally = out.setdefault(case.case_id, {})
                tally[case.verdict.value] = tally.get(case.verdict.value, 0) + 1
        return out

    def matrix_json(self) -> dict[str, Any]:
        """Rows: variants; columns: the profile's cases; cells: verdicts and tracing marks."""
        rows = []
        for outcome in self.outcomes:
            run = self.run_of(_variant_run_name(outcome.variant.name))
            verdicts = {c.case_id: c.verdict.value for c in run.record.cases} if run else {}
            req = outcome.variant.requirement
            rows.append(
                {
                    "variant": outcome.variant.name,
                    "requirement": req,
                    "verdict": outcome.verdict.value,
                    "cells": {
                        c.case_id: {
                            "verdict": verdicts.get(c.case_id),  # None: not run
                            "traces_requirement": req in c.requirements,
                        }
                        for c in self.plan.cases
                    },
                }
            )
        return {
            "cases": [
                {"id": c.case_id, "requirements": list(c.requirements), "mandatory": c.mandatory}
                for c in self.plan.cases
            ],
            "reference": self.reference_cells(),
            "rows": rows,
        }

    def to_json(self, meta: Mapping[str, Any]) -> dict[str, Any]:
        """The report's JSON form; ``meta`` adds dates, machine, options and paths."""
        plan = self.plan
        return {
            "format": QUALIFICATION_FORMAT,
            "verdict": self.verdict,
            "qualified": self.qualified,
            "complete": self.complete,
            "incomplete_reason": self.incomplete_reason,
            "exit_code": self.exit_code,
            "harness_version": meta.get("harness_version"),
            "profile": {
                "id": plan.profile_id,
                "version": plan.version,
                "sha256": plan.digest,
                "path": str(plan.path),
                "requirements": list(plan.requirement_ids),
                "traced_requirements": sorted(traced_requirements(plan)),
            },
            "dbc_sha256": plan.dbc_digest,
            **{k: v for k, v in meta.items() if k != "harness_version"},
            "criteria": [c.to_json() for c in self.criteria],
            "variants": [o.to_json() for o in self.outcomes],
            "out_of_scope": self.out_of_scope,
            "requirements_without_variant": self.requirements_without_variant,
            "notes": self.notes,
            "runs": [_run_json(spec, self.run_of(spec.name), self) for spec in self.specs],
            "matrix": self.matrix_json(),
        }


def _variant_run_name(variant: str) -> str:
    return f"variant-{variant}"


def _run_json(spec: RunSpec, run: QualificationRun | None, q: Qualification) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": spec.name,
        "kind": spec.kind,
        "mode": spec.mode,
        "variant": spec.variant,
    }
    if not spec.realtime:  # a simulated run replays exactly
        dut = spec.dut_option
        seed = f" --seed {q.seed}" if q.seed is not None else ""
        out["replay"] = f"harness certify {q.plan.path} --dut {dut}{seed}"
    if run is None:
        return {**out, "status": "NOT RUN", "verdict": "not run"}
    rec = run.record
    counts: dict[str, int] = {}
    for case in rec.cases:
        counts[case.verdict.value] = counts.get(case.verdict.value, 0) + 1
    if spec.variant is not None:
        outcome = next(o for o in q.outcomes if o.variant.name == spec.variant)
        verdict = outcome.verdict.value
    else:
        completed = rec.status is RunStatus.COMPLETED
        verdict = "PASS" if rec.passed else ("FAIL" if completed else rec.status.value)
    return {
        **out,
        "status": rec.status.value,
        "verdict": verdict,
        "error": rec.error,
        "cases": counts,
        "seconds": round(run.seconds, 3),
        "run_id": rec.run_id,
        "evidence": run.evidence,
        **({"worker": run.worker} if run.worker is not None else {}),  # run over the queue
    }


def machine_description() -> dict[str, Any]:
    """Where the qualification ran: OS, machine, Python."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "node": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def assess(
    plan: Plan,
    specs: Sequence[RunSpec],
    runs: Iterable[QualificationRun],
    variants: Mapping[str, Variant],
    *,
    incomplete_reason: str | None = None,
    all_variants: Mapping[str, Variant] | None = None,
    seed: int | None = None,
) -> Qualification:
    """Judge the runs carried out for ``specs`` (any missing ones count as not run).

    ``variants`` are the variants this qualification covers; ``all_variants`` (default the
    same) is the whole registry, against which requirements without a variant are listed.
    A reference run that did not complete makes the qualification incomplete, as does
    ``incomplete_reason`` (interrupted, a worker died). ``seed`` is the fuzz run seed the
    runs shared, for the commands that replay them.
    """
    done = list(runs)
    by_name = {r.spec.name: r for r in done}
    refs = [by_name[s.name] for s in specs if s.kind == "reference" and s.name in by_name]
    sims = [r for r in refs if not r.spec.realtime]
    outcomes = []
    for spec in specs:
        if spec.kind == "variant" and spec.variant is not None:
            run = by_name.get(spec.name)
            outcomes.append(
                assess_variant(variants[spec.variant], run.record if run else None, plan)
            )
    criteria = [
        reference_passes(refs),
        no_flaky_verdicts(refs),
        simulated_deterministic(sims),
        variants_caught(outcomes),
        no_spurious_failures(outcomes),
    ]
    reason = incomplete_reason
    broken = [r.spec.name for r in refs if r.record.status is not RunStatus.COMPLETED]
    if reason is None and broken:
        reason = "reference run(s) could not complete: " + ", ".join(broken)
    missing = [s.name for s in specs if s.name not in by_name]
    if reason is None and missing:
        reason = f"{len(missing)} run(s) not carried out: " + ", ".join(missing)
    traced = traced_requirements(plan)
    registry = all_variants if all_variants is not None else variants
    covered = {v.requirement for v in registry.values()}
    notes = []
    if len(variants) < len(registry):
        notes.append(
            f"restricted to {len(variants)} of the {len(registry)} registered variants: "
            + ", ".join(variants)
        )
    untraced = [r for r in plan.requirement_ids if r not in traced]
    if untraced:
        notes.append("requirements the profile lists but no case traces: " + ", ".join(untraced))
    return Qualification(
        plan=plan,
        specs=list(specs),
        runs=[by_name[s.name] for s in specs if s.name in by_name],
        outcomes=outcomes,
        criteria=criteria,
        out_of_scope=[o.variant.name for o in outcomes if not o.in_scope],
        requirements_without_variant=[
            r for r in plan.requirement_ids if r in traced and r not in covered
        ],
        incomplete_reason=reason,
        notes=notes,
        seed=seed,
    )

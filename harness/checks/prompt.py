"""The verdict of an operator prompt, from the answer recorded for it.

A prompt step compiles into a :class:`PromptCheck` (not a kind a profile can write under
``checks``: it comes with the step). Its window carries the run's prompt log (``prompts``,
one entry per answer: key, answer, who, when, how, bus time), live and when re-evaluated from
``prompts.jsonl``; the check finds its own entry and judges it, so a recorded answer gives the
same verdict offline. No entry, or one without an answer, is never a PASS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.checks.base import Check
from harness.observe import Window
from harness.operator import NO, YES, PromptPlan
from harness.record import CheckResult, Verdict

__all__ = ["PromptCheck", "PromptPlan", "judge_answer"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def judge_answer(spec: Mapping[str, Any], answer: Any) -> tuple[Verdict, str]:
    """The verdict of one answer to a prompt of ``spec`` (its JSON form), and why."""
    kind = spec["answer"]
    text = str(answer).strip().lower() if isinstance(answer, (str, bool)) else None
    if kind == "confirm":
        if text in YES:
            return Verdict.PASS, "the operator confirmed it was done"
        if text in NO:
            return Verdict.ERROR, "the operator could not carry the instruction out"
        return Verdict.ERROR, f"expected yes or no, but the answer was {answer!r}"
    if kind == "judge":
        if text == "pass":
            return Verdict.PASS, "the operator judged it passed"
        if text == "fail":
            return Verdict.FAIL, "the operator judged it failed"
        return Verdict.ERROR, f"expected pass or fail, but the answer was {answer!r}"
    value = _number(answer)
    unit = f" {spec.get('unit')}" if spec.get("unit") else ""
    if value is None:
        return Verdict.ERROR, f"expected a number{unit}, but the answer was {answer!r}"
    lo, hi = spec.get("min"), spec.get("max")
    ok = (lo is None or value >= lo) and (hi is None or value <= hi)
    span = f"{'-inf' if lo is None else lo:g}..{'inf' if hi is None else hi:g}{unit}"
    if ok:
        return Verdict.PASS, f"{value:g}{unit} within {span}"
    return Verdict.FAIL, f"{value:g}{unit} outside {span}"


class PromptCheck(Check):
    """Judges the answer recorded for one prompt (see the module docstring)."""

    kind = "operator_prompt"

    def __init__(  # a check that comes with its step: no params of its own, no resolver
        self, key: str, spec: Mapping[str, Any], requirements: Sequence[str]
    ) -> None:
        self.key = key
        self.spec = dict(spec)
        self.label = f"operator {spec['answer']}: {spec['text']}"
        self.requirements = tuple(requirements)

    def _result(
        self, verdict: Verdict, summary: str, measurements: Mapping[str, Any]
    ) -> CheckResult:
        limits = {k: self.spec.get(k) for k in ("min", "max", "unit")}
        return CheckResult(
            kind=self.kind,
            verdict=verdict,
            summary=summary,
            measurements=measurements,
            limits=limits if self.spec["answer"] == "value" else {},
            label=self.label,
            requirements=self.requirements,
        )

    def evaluate(self, window: Window) -> CheckResult:
        entries = [
            e
            for e in (window.prompts or ())
            if e.get("key") == self.key and window.t0 <= float(e.get("t", -1.0)) <= window.t1
        ]
        if not entries:
            return self._result(
                Verdict.ERROR, f"no answer to prompt {self.key} is recorded", {"answer": None}
            )
        entry = entries[-1]
        measured = {
            "answer": entry.get("answer"),
            "answered_by": entry.get("answered_by"),
            "answered_at": entry.get("answered_at"),
            "source": entry.get("source"),
        }
        if entry.get("timed_out"):
            why = f"no answer within {self.spec['timeout']:g} s: the case is inconclusive"
            return self._result(Verdict.INCONCLUSIVE, why, measured)
        if entry.get("error"):
            return self._result(Verdict.ERROR, f"no answer: {entry['error']}", measured)
        verdict, why = judge_answer(self.spec, entry.get("answer"))
        return self._result(verdict, why, measured)

"""The ``diag_fuzz`` check: every diagnostic stimulus in a span got what the specification
demands.

Used in a ``fuzz_diag`` step's ``checks:`` it judges the step's own window; at a case's level
``from: <step name>`` (and ``until:``) set the span. It reads the recorded frames only
(:func:`harness.uds.judge.judge_span`): what the harness sent on the request identifiers, read
as the part's ISO-TP receiver reads it, and the part's answers on the response identifier,
each paired with the stimulus sent last before it and judged by the part's oracle
(:mod:`harness.uds.oracle`). So ``harness evaluate`` recomputes the same verdict from the
trace, and the check needs neither the fuzz step's seed nor its generator.

Every violation names the requirement whose rule it breaks (an unsupported service answered
with anything but NRC 0x11 breaks UDS-008, an unknown DID answered with anything but 0x31
UDS-003, ...). A check fails on the violations of its own requirements (those it names, else
its case's), so that one check per requirement fails exactly the requirement a part breaks;
violations of other requirements are counted in its measurements and named in its summary.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import Field

from harness.checks.base import Check, CheckParams, Resolver, register
from harness.errors import InputError
from harness.observe import Window
from harness.record import CheckResult, Offender, Verdict
from harness.uds.codec import hexs
from harness.uds.exchange import DiagIds
from harness.uds.judge import Judged, judge_span
from harness.uds.oracle import get_oracle
from harness.units import format_duration

__all__ = ["DiagFuzzCheck", "DiagFuzzParams"]


class DiagFuzzParams(CheckParams):
    kind: Literal["diag_fuzz"]
    from_: str | None = Field(
        default=None, alias="from", description="the span starts at this step (default: window)"
    )
    until: str | None = Field(default=None, description="the span ends at this step")
    oracle: str = Field(
        default="cc-tcu-1",
        description="the part's diagnostic specification: a registered oracle (cc-tcu-1 "
        "built in; a lab's from the cc_harness.oracles entry point group)",
    )
    listed: int = Field(default=3, ge=1, le=20, description="violations named in the summary")


@register
class DiagFuzzCheck(Check):
    """Each request in the span got an answer the oracle allows, within P2; each malformed
    ISO-TP stimulus got none."""

    kind = "diag_fuzz"
    Params = DiagFuzzParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, DiagFuzzParams)
        self.p = params
        try:
            oracle = get_oracle(params.oracle)
        except InputError as exc:
            raise resolver.error(
                "oracle", exc.detail, expected=exc.expected, got=exc.got, choices=exc.choices
            ) from None
        section = getattr(resolver, "diagnostics", None)
        if section is not None:
            self.ids = section.ids
            self.oracle = oracle.with_timing(section.p2, section.p2_star)
        else:
            self.ids = DiagIds()
            self.oracle = oracle
        self.from_marker = resolver.marker("from", params.from_) if params.from_ else None
        self.until_marker = resolver.marker("until", params.until) if params.until else None
        super().__init__(params, resolver)

    def describe(self) -> str:
        where = f" from {self.p.from_}" if self.p.from_ else ""
        judges = f" ({', '.join(self.p.requirements)})" if self.p.requirements else ""
        return f"diagnostic fuzz{where} judged by the {self.oracle.name} oracle{judges}"

    def _span(self, window: Window) -> tuple[float, float] | str:
        t0, t1 = window.t0, window.t1
        for name, which in ((self.from_marker, 0), (self.until_marker, 1)):
            if name is None:
                continue
            t = window.markers.get(name)
            if t is None:
                return f"step {name} did not run"
            if which == 0:
                t0 = t
            else:
                t1 = t
        return t0, t1

    def evaluate(self, window: Window) -> CheckResult:
        span = self._span(window)
        if isinstance(span, str):
            return self.result(Verdict.ERROR, span)
        judged = judge_span(window.log, span[0], span[1], self.ids, self.oracle)
        limits = {
            "p2": self.oracle.p2,
            "p2_star": self.oracle.p2_star,
            "oracle": self.oracle.name,
            "judges": sorted(self.requirements),
        }
        if not judged:
            return self.result(
                Verdict.ERROR,
                "the span holds no diagnostic request: nothing was sent to judge",
                limits=limits,
            )
        mine, others = self._split(judged)
        meas = self._measurements(judged, mine)
        if mine:
            return self.result(
                Verdict.FAIL,
                self._failed(judged, mine, others),
                meas,
                limits,
                self._offender(mine[0]),
            )
        return self.result(Verdict.PASS, self._passed(judged, meas, others), meas, limits)

    def _split(self, judged: list[Judged]) -> tuple[list[Judged], list[Judged]]:
        bad = [j for j in judged if not j.ok]
        if not self.requirements:
            return bad, []
        own = set(self.requirements)
        return [j for j in bad if j.requirement in own], [
            j for j in bad if j.requirement not in own
        ]

    @staticmethod
    def _measurements(judged: list[Judged], mine: list[Judged]) -> dict[str, Any]:
        requests = [j for j in judged if j.stimulus.request is not None]
        finals = [j.final for j in requests if j.final is not None]
        times = [j.response_time for j in judged if j.response_time is not None]
        bad = Counter(j.requirement for j in judged if not j.ok)
        return {
            "stimuli": len(judged),
            "requests": len(requests),
            "functional": sum(1 for j in judged if j.stimulus.functional),
            "malformed_isotp": len(judged) - len(requests),
            "positive": sum(1 for a in finals if a.payload[0] != 0x7F),
            "negative": sum(1 for a in finals if a.payload[0] == 0x7F),
            "unanswered": sum(1 for j in judged if not j.answers),
            "max_response_time": max(times) if times else None,
            "violations": sum(bad.values()),
            "violations_judged": len(mine),
            "violations_by_requirement": dict(sorted(bad.items())),
        }

    def _passed(self, judged: list[Judged], meas: dict[str, Any], others: list[Judged]) -> str:
        worst = meas["max_response_time"]
        text = (
            f"{len(judged)} stimuli ({meas['requests']} requests, {meas['malformed_isotp']} "
            f"malformed ISO-TP) answered as the {self.oracle.name} specification demands"
        )
        if worst is not None:
            p2 = format_duration(self.oracle.p2)
            text += f", first answers within {format_duration(worst)} (P2 {p2})"
        if others:
            reqs = ", ".join(sorted({j.requirement for j in others}))
            text += f"; {len(others)} violation(s) of {reqs}, which this check does not judge"
        return text

    def _failed(self, judged: list[Judged], mine: list[Judged], others: list[Judged]) -> str:
        reqs = ", ".join(sorted({j.requirement for j in mine}))
        shown = [f"t={j.stimulus.first:.6f} {j.summary()}" for j in mine[: self.p.listed]]
        more = f"; and {len(mine) - self.p.listed} more" if len(mine) > self.p.listed else ""
        text = f"{len(mine)} of {len(judged)} stimuli break {reqs}: " + "; ".join(shown) + more
        if others:
            text += f" (and {len(others)} violation(s) of requirements this check does not judge)"
        return text

    def _offender(self, j: Judged) -> Offender:
        detail = f"{j.stimulus.describe()}: {j.problems[0]}"
        if j.answers:
            a = j.answers[0]
            return Offender(a.first, detail, self.ids.response_id, hexs(a.first_data))
        _, data = j.stimulus.frames[0]
        return Offender(j.stimulus.first, detail, j.stimulus.can_id, hexs(data))

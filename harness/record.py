"""What a run produced, as plain data: verdicts, measurements, case and run records.

Records are frozen dataclasses (the run record is built up case by case and rewritten to
disk after each case, so an interrupted run keeps everything it finished). ``to_json``
gives the stable JSON form that goes into the evidence folder.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.fuzz import FuzzRecord

__all__ = [
    "CaseRecord",
    "CheckResult",
    "FrameLoss",
    "Offender",
    "ReceiveReport",
    "RunRecord",
    "RunStatus",
    "Verdict",
    "combine",
    "judge_with_loss",
    "lost_between",
]


class Verdict(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"
    # The part does not have an optional feature the case needs (its conformance
    # statement says so): neither passed nor failed, and its requirements are not claimed.
    NOT_APPLICABLE = "NOT_APPLICABLE"

    @property
    def text(self) -> str:
        """The verdict for people: ``NOT APPLICABLE`` with a space."""
        return self.value.replace("_", " ")


_SEVERITY = {
    Verdict.PASS: 0,
    Verdict.SKIPPED: 0,
    Verdict.NOT_APPLICABLE: 0,
    Verdict.INCONCLUSIVE: 1,
    Verdict.FAIL: 2,
    Verdict.ERROR: 3,
}


def combine(verdicts: list[Verdict]) -> Verdict:
    """The worst of several verdicts; an empty list is INCONCLUSIVE (nothing was shown).
    SKIPPED and NOT_APPLICABLE give way to any other verdict; of the two, SKIPPED wins."""
    real = [v for v in verdicts if v not in (Verdict.SKIPPED, Verdict.NOT_APPLICABLE)]
    if not real:
        if not verdicts:
            return Verdict.INCONCLUSIVE
        return Verdict.SKIPPED if Verdict.SKIPPED in verdicts else Verdict.NOT_APPLICABLE
    return max(real, key=lambda v: _SEVERITY[v])


class RunStatus(str, enum.Enum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    ABORTED = "ABORTED"
    INCOMPLETE = "INCOMPLETE"


def _clean(value: Any) -> Any:
    """JSON-safe form: floats rounded to nanoseconds' worth of digits, no NaN."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, 9)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


@dataclass(frozen=True)
class Offender:
    """The frame or message that shows a failure best (usually the worst one)."""

    timestamp: float
    detail: str
    can_id: int | None = None
    data: str | None = None  # hex

    def describe(self) -> str:
        """One line for people: ``at t=12.300000 id 0x3A0 [01 00 ...]: what is wrong``."""
        where = f" id 0x{self.can_id:03X}" if self.can_id is not None else ""
        data = f" [{self.data}]" if self.data else ""
        return f"at t={self.timestamp:.6f}{where}{data}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"timestamp": _clean(self.timestamp), "detail": self.detail}
        if self.can_id is not None:
            out["can_id"] = f"0x{self.can_id:03X}"
        if self.data is not None:
            out["data"] = self.data
        return out


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict, what it measured, and the limits it applied."""

    kind: str
    verdict: Verdict
    summary: str
    measurements: Mapping[str, Any] = field(default_factory=dict)
    limits: Mapping[str, Any] = field(default_factory=dict)
    offender: Offender | None = None
    label: str = ""
    requirements: tuple[str, ...] = ()  # empty: all of the case's
    window: tuple[float, float] | None = None  # the observation window it judged

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "requirements": list(self.requirements),
            "window": list(self.window) if self.window else None,
            "verdict": self.verdict.value,
            "summary": self.summary,
            "measurements": _clean(dict(self.measurements)),
            "limits": _clean(dict(self.limits)),
            "offender": self.offender.to_json() if self.offender else None,
        }


@dataclass(frozen=True)
class FrameLoss:
    """Frames lost before the harness read them: ``frames`` of them, some time in the
    wall-clock span (``t0``, ``t1``] (between two reads of ``source``, an overrun counter)."""

    t0: float
    t1: float
    frames: int
    source: str
    bus: str | None = None  # the named bus that lost them (a run of several buses)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "t0": _clean(self.t0),
            "t1": _clean(self.t1),
            "frames": self.frames,
            "source": self.source,
        }
        if self.bus is not None:
            out["bus"] = self.bus
        return out


@dataclass(frozen=True)
class ReceiveReport:
    """How the harness received a live bus: frames read, frames lost and where."""

    reader: str
    frames: int
    lost: int
    counters: tuple[str, ...]
    receive_buffer: int | None
    losses: tuple[FrameLoss, ...] = ()
    # a run of several buses: each bus's own report, by name; the fields above are then the
    # totals and ``losses`` every bus's (each naming its bus), which judge every window
    buses: Mapping[str, ReceiveReport] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reader": self.reader,
            "frames": self.frames,
            "lost": self.lost,
            "overrun_counters": list(self.counters),
            "receive_buffer": self.receive_buffer,
            "losses": [loss.to_json() for loss in self.losses],
        }
        if self.buses:
            out["buses"] = {name: report.to_json() for name, report in self.buses.items()}
        return out

    @staticmethod
    def of_buses(buses: Mapping[str, ReceiveReport]) -> ReceiveReport:
        """The report of a run of several buses from each bus's: totals, every bus's losses
        in time order (each naming its bus), and each bus's report under its name."""
        tagged = {
            name: dataclasses.replace(
                report,
                losses=tuple(dataclasses.replace(loss, bus=name) for loss in report.losses),
            )
            for name, report in buses.items()
        }
        losses = sorted(
            (loss for report in tagged.values() for loss in report.losses),
            key=lambda loss: (loss.t0, loss.t1),
        )
        counters = [f"{name}: {c}" for name, report in tagged.items() for c in report.counters]
        sizes = {r.receive_buffer for r in tagged.values()}
        return ReceiveReport(
            reader=", ".join(sorted({r.reader for r in tagged.values()})),
            frames=sum(r.frames for r in tagged.values()),
            lost=sum(r.lost for r in tagged.values()),
            counters=tuple(counters),
            receive_buffer=sizes.pop() if len(sizes) == 1 else None,
            losses=tuple(losses),
            buses=tagged,
        )


def lost_between(losses: Sequence[FrameLoss], t0: float, t1: float) -> int:
    """Frames lost in spans that overlap the window [t0, t1] (a span is (loss.t0, loss.t1])."""
    return sum(loss.frames for loss in losses if loss.t0 <= t1 and loss.t1 >= t0)


def judge_with_loss(result: CheckResult, lost: int) -> CheckResult:
    """A check whose window lost frames at the receiver is INCONCLUSIVE, never PASS or FAIL.

    What was lost may have broken the rule (so no PASS), and a gap or a missing reply may be
    the receiver's, not the part's (so no FAIL charged to it). The summary keeps what the
    frames in hand showed.
    """
    if lost <= 0 or result.verdict not in (Verdict.PASS, Verdict.FAIL):
        return result
    return dataclasses.replace(
        result,
        verdict=Verdict.INCONCLUSIVE,
        summary=f"{lost} frame(s) lost at the receiver in this window, so it cannot be "
        f"judged (the frames received alone: {result.verdict.value}, {result.summary})",
        measurements={**result.measurements, "frames_lost": lost},
    )


@dataclass(frozen=True)
class CaseRecord:
    case_id: str
    title: str
    requirements: tuple[str, ...]
    mandatory: bool
    verdict: Verdict
    started: float
    ended: float
    checks: tuple[CheckResult, ...] = ()
    error: str | None = None
    markers: Mapping[str, float] = field(default_factory=dict)
    fuzz: tuple[FuzzRecord, ...] = ()  # what the case's fuzz steps sent and found
    not_applicable: str | None = None  # why the case did not apply (verdict NOT_APPLICABLE)

    def requirement_verdicts(self) -> dict[str, Verdict]:
        by_req: dict[str, list[Verdict]] = {req: [] for req in self.requirements}
        for check in self.checks:
            for req in check.requirements or self.requirements:
                by_req.setdefault(req, []).append(check.verdict)
        out = {}
        for req, verdicts in by_req.items():
            if self.error is not None or not verdicts:
                verdicts = [*verdicts, self.verdict]
            out[req] = combine(verdicts)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.case_id,
            "title": self.title,
            "requirements": list(self.requirements),
            "mandatory": self.mandatory,
            "verdict": self.verdict.value,
            "started": _clean(self.started),
            "ended": _clean(self.ended),
            "duration": _clean(self.ended - self.started),
            "error": self.error,
            "markers": _clean(dict(self.markers)),
            "checks": [c.to_json() for c in self.checks],
            "fuzz": [f.to_json() for f in self.fuzz],
            "not_applicable": self.not_applicable,
        }


@dataclass
class RunRecord:
    """The whole run: identity of what was tested and how, and every case so far."""

    run_id: str
    profile_id: str
    profile_version: str
    profile_digest: str
    dbc_digest: str
    harness_version: str
    mode: str  # "simulated" or "realtime"
    dut: str
    bench: Mapping[str, Any]
    started_wall: str
    status: RunStatus = RunStatus.RUNNING
    ended_wall: str | None = None
    cases: list[CaseRecord] = field(default_factory=list)
    error: str | None = None
    identity: Mapping[str, str] = field(default_factory=dict)
    identity_sources: Mapping[str, str] = field(default_factory=dict)  # item -> part/bench/...
    identity_subject: str | None = None  # the item that names the certificate's subject
    trace_origin: float | None = None  # exact timestamp of the trace's first frame
    seed: int | None = None  # the run seed of fuzz steps without a seed of their own
    selection: tuple[str, ...] | None = None  # the cases chosen with --case; None: all
    receive: ReceiveReport | None = None  # live runs: frames read and lost at the receiver
    # The supplier's implementation conformance statement: {"source", "features": {name:
    # bool}}; None when none was given (then every case applies).
    conformance: Mapping[str, Any] | None = None
    # Real-time runs: the bench's realtime.priority and what each timing-critical process
    # (harness, simulator, broker) applied or why not (harness.rtpriority); None: simulated.
    priority: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """True when the run completed and every mandatory case passed (or did not apply
        to the part, as its conformance statement says)."""
        return self.status is RunStatus.COMPLETED and all(
            c.verdict in (Verdict.PASS, Verdict.NOT_APPLICABLE) for c in self.cases if c.mandatory
        )

    def requirement_verdicts(self) -> dict[str, Verdict]:
        """Per requirement, the worst verdict of the checks that trace it.

        A check traces the requirements it names, or else all of its case's; a case that
        ended in an error, or whose checks do not reach one of its requirements, gives its
        own verdict to those requirements. Optional cases count for a requirement only when
        no mandatory case that applies traces it: an optional extra cannot fail what the
        mandatory cases showed, as it cannot make the run fail. A requirement that only cases
        which do not apply trace is NOT_APPLICABLE: not claimed.
        """
        mandatory: dict[str, list[Verdict]] = {}
        optional: dict[str, list[Verdict]] = {}
        for case in self.cases:
            into = mandatory if case.mandatory else optional
            for req, verdict in case.requirement_verdicts().items():
                into.setdefault(req, []).append(verdict)
        reqs = sorted(set(mandatory) | set(optional))

        def applying(verdicts: list[Verdict] | None) -> list[Verdict]:
            return [v for v in verdicts or () if v is not Verdict.NOT_APPLICABLE]

        return {
            req: combine(
                applying(mandatory.get(req))
                or applying(optional.get(req))
                or [*mandatory.get(req, ()), *optional.get(req, ())]
            )
            for req in reqs
        }

    def not_claimed(self) -> list[str]:
        """Requirements that only cases which do not apply to the part trace."""
        return [r for r, v in self.requirement_verdicts().items() if v is Verdict.NOT_APPLICABLE]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "cc-harness-run/1",
            "run_id": self.run_id,
            "status": self.status.value,
            "passed": self.passed,
            "profile": {
                "id": self.profile_id,
                "version": self.profile_version,
                "sha256": self.profile_digest,
            },
            "dbc_sha256": self.dbc_digest,
            "harness_version": self.harness_version,
            "mode": self.mode,
            "dut": self.dut,
            "identity": dict(self.identity),
            "identity_sources": dict(self.identity_sources),
            "identity_subject": self.identity_subject,
            "bench": _clean(dict(self.bench)),
            "trace_origin": self.trace_origin,
            "seed": self.seed,
            "selected_cases": None if self.selection is None else list(self.selection),
            "started": self.started_wall,
            "ended": self.ended_wall,
            "error": self.error,
            "requirements": {k: v.value for k, v in self.requirement_verdicts().items()},
            "cases": [c.to_json() for c in self.cases],
            "receive": self.receive.to_json() if self.receive is not None else None,
            "conformance": None if self.conformance is None else dict(self.conformance),
            "not_claimed": self.not_claimed(),
            "priority": None if self.priority is None else dict(self.priority),
        }

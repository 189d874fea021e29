"""Offline re-evaluation: recompute every verdict of a run from its evidence folder alone.

An evidence folder holds ``run.json`` (the record: verdicts, measurements, each check's
observation window, each case's step markers) and ``trace.blf`` (every frame both ways). With
the profile and DBC the run used (copies in the folder, ``profile.yaml`` and ``dbc/*.dbc``, or
given by the auditor) every check is compiled again and evaluated over the
:class:`~harness.observe.FrameLog` rebuilt from the trace: no bus, no DUT, no broker.

The rebuilt log is the live one, bit for bit. BLF keeps its start time only to the
millisecond, so frames are read as offsets from the file start and placed on the run's
``trace_origin`` (the exact timestamp of the first frame written); :meth:`FrameLog.add_rx`
then puts them on the same 1 µs grid the live run used. Frames the DUT sent are the trace's
received ones, the harness's own are its transmitted ones.

:func:`evaluate_evidence` compares the recomputed results with the record check by check
(verdict, summary, measurements, limits, offender: the JSON form ``run.json`` holds), then each
case's verdict, the per-requirement verdicts and the overall result.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks import Check
from harness.checks.evaluate import evaluate_checks
from harness.conformance import Conformance
from harness.errors import HarnessError, InputError
from harness.evidence import file_sha256
from harness.observe import FrameLog, Window, bus_stream
from harness.operator import read_prompt_log
from harness.plan import BUSES_DIGEST_FILE, Plan, PlannedCase
from harness.profile.compile import load_profile
from harness.profile.compile_buses import DbcFiles
from harness.record import (
    CaseRecord,
    CheckResult,
    RunRecord,
    RunStatus,
    Verdict,
    combine,
    judge_with_loss,
    lost_between,
)
from harness.runjson import read_run, record_from_json
from harness.trace import read_trace, read_trace_channels

__all__ = [
    "CaseComparison",
    "CheckComparison",
    "Evaluation",
    "Evidence",
    "evaluate_evidence",
    "load_evidence",
    "locate_profile",
    "matched_checks",
    "planned_checks",
    "read_run",
    "read_trace",
    "read_trace_channels",
    "record_from_json",
]


# -- the profile ---------------------------------------------------------------------------------
def locate_profile(
    folder: Path, profile: Path | None = None, dbc: Path | Mapping[str, Path] | None = None
) -> tuple[Path, Path | DbcFiles | None]:
    """The profile and DBC to re-evaluate with: given ones first, then the folder's copies.

    The folder's copies are ``profile.yaml`` and the one ``dbc/*.dbc`` (of a several-bus
    run, the ``dbc/`` folder: ``dbc/BUS/FILE`` each); with no DBC found the profile's own
    ``dbc:`` path is used (``None``). ``dbc`` as a mapping names a file per bus (``--dbc
    BUS=PATH``); the other buses' come from the folder's ``dbc/BUS/FILE``, else the
    profile's paths.
    """
    chosen = profile
    if chosen is None:
        copy = folder / "profile.yaml"
        if not copy.is_file():
            raise InputError(
                f"{folder} holds no copy of its profile (profile.yaml)",
                expected="--profile PATH, the profile this run used",
            )
        chosen = copy
    if isinstance(dbc, Mapping):
        kept = folder / "dbc" if (folder / "dbc" / BUSES_DIGEST_FILE).is_file() else None
        return chosen, DbcFiles(dict(dbc), kept)
    if dbc is None and (folder / "dbc" / BUSES_DIGEST_FILE).is_file():
        dbc = folder / "dbc"
    if dbc is None:
        copies = sorted((folder / "dbc").glob("*.dbc"))
        if len(copies) > 1:
            raise InputError(
                f"{folder / 'dbc'} holds several DBC files",
                expected="--dbc PATH, the DBC this run used",
                choices=[p.name for p in copies],
            )
        dbc = copies[0] if copies else None
    return chosen, dbc


def planned_checks(plan: Plan, case: PlannedCase) -> list[Check]:
    """A case's checks in the order the runner evaluates them (and the record lists them):
    those of observe steps (``before_each`` first), then the case's own."""
    out: list[Check] = []
    for step in (*plan.before_each, *case.steps):
        out.extend(step.checks)
    out.extend(case.checks)
    return out


def _sha256(path: Path) -> str:
    digest, _ = file_sha256(path)
    return digest


@dataclass
class Evidence:
    """An evidence folder read back: the record, the rebuilt frame log, the compiled profile."""

    folder: Path
    raw: dict[str, Any]
    record: RunRecord
    log: FrameLog
    frames: int
    plan: Plan | None = None
    profile_path: Path | None = None
    dbc_path: Path | DbcFiles | None = None
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the evidence disagrees with the record
    mqtt: Any = None  # the MQTT log rebuilt from mqtt.jsonl, when there is one and a reader
    prompts: Any = None  # the operator's answers from prompts.jsonl (harness.operator)
    # each named bus's frames (the trace's channel per bus); the first bus's is ``log``
    logs: dict[str, FrameLog] = field(default_factory=dict)

    def window(self, t0: float, t1: float, markers: Mapping[str, float]) -> Window:
        """What a check evaluates, as the live run gave it (frames, markers, MQTT log)."""
        assert self.plan is not None
        logs = self.logs or {self.plan.bus_list()[0].name: self.log}
        return Window(
            t0,
            t1,
            self.log,
            dict(markers),
            self.plan.bitrate,
            mqtt=self.mqtt,
            prompts=self.prompts,
            data_bitrate=self.plan.data_bitrate,
            streams={bus_stream(name): log for name, log in logs.items()},
        )


def matched_checks(plan: Plan | None, case: CaseRecord) -> list[Check | None]:
    """The compiled check behind each of a case's recorded results, None where the profile
    has none of that kind and label at that place (or no profile is at hand)."""
    planned: list[Check] = []
    if plan is not None:
        try:
            planned = planned_checks(plan, plan.case(case.case_id))
        except KeyError:
            planned = []
    out: list[Check | None] = []
    for k, result in enumerate(case.checks):
        check = planned[k] if k < len(planned) else None
        if check is not None and (check.kind != result.kind or check.label != result.label):
            check = None
        out.append(check)
    return out


def _read_mqtt(ev: Evidence) -> Any:
    """The run's MQTT log from ``mqtt.jsonl``, through the MQTT package's reader.

    The reader's contract: ``harness.mqtt.log.read_mqtt_log(folder, plan, record)`` returns
    the :class:`~harness.mqtt.log.MqttLog` the live run's checks saw. Until it exists, MQTT
    checks cannot be recomputed (they come back ERROR and show as differences), and a note
    says why.
    """
    if not (ev.folder / "mqtt.jsonl").is_file():
        return None
    reader = getattr(importlib.import_module("harness.mqtt.log"), "read_mqtt_log", None)
    if reader is None:
        ev.notes.append(
            "mqtt.jsonl cannot be read back yet (no harness.mqtt.log.read_mqtt_log): "
            "MQTT checks are not recomputed and show as differences"
        )
        return None
    return reader(ev.folder, ev.plan, ev.record)


def load_evidence(
    folder: Path,
    profile: Path | None = None,
    dbc: Path | Mapping[str, Path] | None = None,
    *,
    need_profile: bool = True,
) -> Evidence:
    """Read an evidence folder; compile its profile (``need_profile=False``: if one is found).
    ``dbc``: a DBC file in place of the folder's copy, or a file per bus name."""
    raw, record = read_run(folder)
    log, frames = read_trace(folder / "trace.blf", record.trace_origin)
    ev = Evidence(folder, raw, record, log, frames)
    if record.trace_origin is None and frames:
        ev.notes.append(
            "run.json has no trace_origin: frame times come from the BLF start (1 ms accurate)"
        )
    if record.status is not RunStatus.COMPLETED:
        ev.notes.append(
            f"the run is {record.status.value}"
            + (f" ({record.error})" if record.error else "")
            + f": {len(record.cases)} case(s) recorded; re-evaluating what is there"
        )
    try:
        ev.profile_path, ev.dbc_path = locate_profile(folder, profile, dbc)
        ev.plan = load_profile(ev.profile_path, dbc_override=ev.dbc_path)
    except HarnessError:
        if need_profile:
            raise
        ev.notes.append("no profile found: plots that need it are left out (give --profile)")
        return ev
    buses = ev.plan.bus_list()
    if len(buses) > 1:  # each bus's frames from its BLF channel
        by_channel, ev.frames = read_trace_channels(folder / "trace.blf", record.trace_origin)
        ev.logs = {b.name: by_channel.get(i, FrameLog()) for i, b in enumerate(buses)}
        ev.log = ev.logs[buses[0].name]
    ev.mqtt = _read_mqtt(ev)
    ev.prompts = read_prompt_log(folder)
    digest = _sha256(ev.profile_path)
    if digest != record.profile_digest:
        ev.problems.append(
            f"profile {ev.profile_path} has sha256 {digest}, the record names "
            f"{record.profile_digest}: not the profile this run used"
        )
    if ev.plan.dbc_digest != record.dbc_digest:
        ev.problems.append(
            f"DBC {ev.plan.dbc_path} has sha256 {ev.plan.dbc_digest}, the record names "
            f"{record.dbc_digest}: not the DBC this run used"
        )
    return ev


# -- comparison ----------------------------------------------------------------------------------
def _diff(recorded: Any, recomputed: Any, path: str, out: list[str]) -> None:
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        for key in [*recorded, *(k for k in recomputed if k not in recorded)]:
            if key not in recorded:
                out.append(
                    f"{path}{key}: not in the record, evidence {json.dumps(recomputed[key])}"
                )
            elif key not in recomputed:
                out.append(f"{path}{key}: record {json.dumps(recorded[key])}, not recomputed")
            else:
                _diff(recorded[key], recomputed[key], f"{path}{key}.", out)
    elif recorded != recomputed or (
        type(recorded) is not type(recomputed)
        and not (isinstance(recorded, (int, float)) and isinstance(recomputed, (int, float)))
    ):
        out.append(
            f"{path.rstrip('.')}: record {json.dumps(recorded)}, evidence {json.dumps(recomputed)}"
        )


@dataclass(frozen=True)
class CheckComparison:
    index: int
    kind: str
    label: str
    recorded: Verdict
    recomputed: CheckResult | None
    differences: tuple[str, ...]

    @property
    def agrees(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class CaseComparison:
    case_id: str
    recorded: Verdict
    recomputed: Verdict
    checks: tuple[CheckComparison, ...]
    problems: tuple[str, ...]

    @property
    def agrees(self) -> bool:
        return not self.problems and all(c.agrees for c in self.checks)


@dataclass
class Evaluation:
    evidence: Evidence
    cases: list[CaseComparison]
    problems: list[str]  # run-wide: digests, requirement verdicts, overall result
    seconds: float

    @property
    def agrees(self) -> bool:
        return not self.problems and all(c.agrees for c in self.cases)

    @property
    def checks(self) -> int:
        return sum(len(c.checks) for c in self.cases)


def _compare_case(ev: Evidence, index: int) -> tuple[CaseComparison, CaseRecord]:
    assert ev.plan is not None
    case = ev.record.cases[index]
    raw_checks = ev.raw["cases"][index]["checks"]
    problems: list[str] = []
    try:
        planned_case: PlannedCase | None = ev.plan.case(case.case_id)
    except KeyError:
        planned_case = None
    na = _not_applicable(ev, case, planned_case)
    if na is not None:
        return na
    if planned_case is not None:
        planned = planned_checks(ev.plan, planned_case)
    else:
        planned = []
        problems.append(f"the profile has no case {case.case_id}")
    if len(case.checks) > len(planned) and planned:
        problems.append(
            f"the record lists {len(case.checks)} checks, the profile has {len(planned)}"
        )
    elif len(case.checks) < len(planned) and case.error is None:
        problems.append(
            f"the record lists {len(case.checks)} of the profile's {len(planned)} checks "
            "and no error that would explain the rest"
        )
    comparisons: list[CheckComparison] = []
    results: list[CheckResult] = []
    for k, result in enumerate(case.checks):
        check = planned[k] if k < len(planned) else None
        diffs: list[str] = []
        recomputed: CheckResult | None = None
        if check is None:
            diffs.append("no check of the profile at this place")
        elif check.kind != result.kind or check.label != result.label:
            diffs.append(
                f"the profile's check here is {check.kind} '{check.label}', the record's "
                f"{result.kind} '{result.label}'"
            )
        elif result.window is None:
            diffs.append("the record gives no observation window")
        else:
            window = ev.window(*result.window, case.markers)
            recomputed = evaluate_checks([check], window)[0]
            lost = 0
            if ev.record.receive is not None:  # frames lost live: judged as the run judged
                lost = lost_between(ev.record.receive.losses, *result.window)
                recomputed = judge_with_loss(recomputed, lost)
            if lost and recomputed.verdict is Verdict.INCONCLUSIVE:
                # A window that lost frames is not judged, live or here; its figures are only
                # what the frames in hand showed, and the trace may hold frames the receiver
                # queued after the live look (a flood outruns it). The verdicts must agree.
                if result.verdict is not recomputed.verdict:
                    diffs.append(
                        f"verdict: record {result.verdict.value}, evidence "
                        f"{recomputed.verdict.value}"
                    )
            else:
                _diff(raw_checks[k], recomputed.to_json(), "", diffs)
        results.append(recomputed or result)
        comparisons.append(
            CheckComparison(k, result.kind, result.label, result.verdict, recomputed, tuple(diffs))
        )
    verdicts = [r.verdict for r in results]
    if case.error is not None:
        verdicts.append(Verdict.ERROR)
    verdict = combine(verdicts)
    if verdict is not case.verdict:
        problems.append(f"case verdict: record {case.verdict.value}, evidence {verdict.value}")
    rebuilt = CaseRecord(
        case.case_id,
        case.title,
        case.requirements,
        case.mandatory,
        verdict,
        case.started,
        case.ended,
        tuple(results),
        case.error,
        case.markers,
    )
    comparison = CaseComparison(
        case.case_id, case.verdict, verdict, tuple(comparisons), tuple(problems)
    )
    return comparison, rebuilt


def _not_applicable(
    ev: Evidence, case: CaseRecord, planned: PlannedCase | None
) -> tuple[CaseComparison, CaseRecord] | None:
    """A case that did not apply, or should not have: whether the record's conformance
    statement and the profile's ``needs`` agree with its verdict. None for a case that
    applied and was run (compared check by check)."""
    statement = ev.record.conformance
    reason = None
    if statement is not None and planned is not None:
        features = {str(k): bool(v) for k, v in (statement.get("features") or {}).items()}
        reason = Conformance(str(statement.get("source")), features).reason(planned.needs)
    recorded_na = case.verdict is Verdict.NOT_APPLICABLE
    if reason is None and not recorded_na:
        return None
    problems: list[str] = []
    if reason is None:
        problems.append(
            "case verdict: record NOT_APPLICABLE, but the part's conformance statement claims "
            "every feature the case needs"
        )
    elif not recorded_na:
        problems.append(
            f"case verdict: record {case.verdict.value}, evidence NOT_APPLICABLE ({reason})"
        )
    elif case.checks:
        problems.append("a case that did not apply lists checks")
    verdict = Verdict.NOT_APPLICABLE if reason is not None else Verdict.INCONCLUSIVE
    rebuilt = dataclasses.replace(case, verdict=verdict, not_applicable=reason, checks=())
    comparison = CaseComparison(case.case_id, case.verdict, verdict, (), tuple(problems))
    return comparison, rebuilt


def evaluate_evidence(ev: Evidence) -> Evaluation:
    """Recompute every recorded check from the evidence and compare it with the record."""
    if ev.plan is None:
        raise InputError("re-evaluation needs the run's profile", expected="--profile PATH")
    start = time.perf_counter()
    cases: list[CaseComparison] = []
    rebuilt: list[CaseRecord] = []
    for i in range(len(ev.record.cases)):
        comparison, record = _compare_case(ev, i)
        cases.append(comparison)
        rebuilt.append(record)
    problems = list(ev.problems)
    again = RunRecord(**{**ev.record.__dict__, "cases": rebuilt})
    recomputed_reqs = {k: v.value for k, v in again.requirement_verdicts().items()}
    recorded_reqs = ev.raw.get("requirements")
    if recorded_reqs != recomputed_reqs:
        _diff(recorded_reqs, recomputed_reqs, "requirements.", problems)
        if not isinstance(recorded_reqs, dict):
            problems.append("requirements: the record's per-requirement verdicts are missing")
    recorded_passed = ev.raw.get("passed")
    if recorded_passed is not again.passed:
        problems.append(
            f"passed: record {json.dumps(recorded_passed)}, evidence {json.dumps(again.passed)}"
        )
    last_window = max(
        (c.window[1] for case in ev.record.cases for c in case.checks if c.window), default=None
    )
    ends = [col.ts[-1] for col in (*ev.log.rx.values(), *ev.log.tx.values()) if col.ts]
    if last_window is not None and (not ends or max(ends) < last_window - 1.0):
        ev.notes.append(
            "the trace ends more than 1 s before the last recorded window: it may be "
            "truncated (a killed run loses its last 250 ms flush interval)"
        )
    return Evaluation(ev, cases, problems, time.perf_counter() - start)


def summarize(evaluation: Evaluation) -> list[str]:
    """Plain-text lines describing the comparison, for consoles and logs."""
    lines: list[str] = []
    for case in evaluation.cases:
        if case.agrees:
            continue
        lines.append(
            f"{case.case_id}: record {case.recorded.value}, evidence {case.recomputed.value}"
        )
        lines.extend(f"  {p}" for p in case.problems)
        for check in case.checks:
            for d in check.differences:
                lines.append(f"  check {check.index + 1} {check.kind} '{check.label}': {d}")
    lines.extend(evaluation.problems)
    return lines

"""The HTML report: one self-contained file per run, readable without a network.

Inline CSS and inline SVG only (no scripts, no fonts, no links out). From the top: the
overall result (and any failed requirement, in red, with links to its cases), the summary of
what was tested and how, the per-requirement table, the latencies of the run against their
limits, then every case: its verdict, requirements, step markers, and each check's summary,
measurements against limits, worst offending frame and plots drawn from the frames.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from harness.checks import Check
from harness.fuzz import FuzzRecord
from harness.observe import FrameLog
from harness.offline import Evaluation, matched_checks
from harness.plan import Plan
from harness.record import CaseRecord, CheckResult, RunRecord, RunStatus, Verdict
from harness.report.html_style import CSS as _CSS
from harness.report.plots import check_plots, latency_chart, latency_rows
from harness.timerwatch import described as described_timers
from harness.units import format_duration

__all__ = ["render_html"]


# measurement -> (limit, relation): the limit it is judged against, shown side by side
_PAIRS: dict[str, dict[str, tuple[str, str]]] = {
    "cycle_time": {
        "min_interval": ("min", ">="),
        "max_interval": ("max", "<="),
        "mean_interval": ("mean", "in"),
        "trailing_gap": ("max", "<="),
    },
    "bus_load": {"peak_percent": ("max_percent", "<")},
    "latency": {"latency": ("within", "<=")},
    "flag": {"set_latency": ("set_within", "<="), "clear_latency": ("clear_within", "<=")},
    "absent": {"frames": ("frames", "==")},
    "alive_counter": {"violations": ("", "== 0")},
    "e2e_crc": {"violations": ("", "== 0")},
    "signal": {"violations": ("", "== 0")},
}
_DURATIONS = {
    "min_interval", "mean_interval", "max_interval", "leading_gap", "trailing_gap", "latency",
    "set_latency", "clear_latency", "waited", "window", "min", "max", "mean", "within",
    "not_before", "set_within", "clear_within",
}  # fmt: skip
_SYMBOL = {">=": "≥", "<=": "≤", "<": "<", "==": "=", "in": "within"}


def _badge(v: Verdict | str) -> str:
    text = v.value if isinstance(v, Verdict) else v
    return f'<span class="badge {escape(text)}">{escape(text.replace("_", " "))}</span>'


def _value(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in _DURATIONS and isinstance(value, (int, float)):
        return format_duration(float(value))
    if key in _DURATIONS and isinstance(value, list):
        return " .. ".join(_value(key, v) for v in value)
    if key.endswith("_percent") and isinstance(value, (int, float)):
        return f"{value:.2f} %"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return escape(json.dumps(value)) if value else "none"
    return escape(str(value))


def _violates(relation: str, value: Any, limit: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if relation == "== 0":
        return value != 0
    if relation == "in":
        return isinstance(limit, list) and len(limit) == 2 and not limit[0] <= value <= limit[1]
    if not isinstance(limit, (int, float)):
        return False
    slack = 1e-12
    return {
        ">=": value < limit - slack,
        "<=": value > limit + slack,
        "<": value >= limit,
        "==": value != limit,
    }.get(relation, False)


def _measurements(result: CheckResult) -> str:
    pairs = _PAIRS.get(result.kind, {})
    used: set[str] = set()
    rows: list[str] = []
    failed = result.verdict is not Verdict.PASS
    for key, value in result.measurements.items():
        limit_text = ""
        bad = False
        if key in pairs:
            lim_key, relation = pairs[key]
            if relation == "== 0":
                limit_text = "= 0"
                bad = failed and _violates(relation, value, None)
            elif lim_key in result.limits and result.limits[lim_key] is not None:
                used.add(lim_key)
                limit = result.limits[lim_key]
                limit_text = f"{_SYMBOL[relation]} {_value(lim_key, limit)}"
                bad = failed and _violates(relation, value, limit)
        css = ' class="bad"' if bad else ""
        rows.append(
            f"<tr{css}><td>{escape(key)}</td><td class='mono'>{_value(key, value)}</td>"
            f"<td class='mono'>{limit_text}</td></tr>"
        )
    for key, limit in result.limits.items():
        if key not in used and limit is not None:
            rows.append(
                f"<tr><td>limit: {escape(key)}</td><td></td>"
                f"<td class='mono'>{_value(key, limit)}</td></tr>"
            )
    if not rows:
        return ""
    return (
        "<table class='measurements'><tr><th>measurement</th><th>value</th><th>limit</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _offender(result: CheckResult, case: CaseRecord) -> str:
    off = result.offender
    if off is None:
        return ""
    where = f" id 0x{off.can_id:03X}" if off.can_id is not None else ""
    data = f" <code>[{escape(off.data)}]</code>" if off.data else ""
    return (
        f"<p class='offender'><b>offender</b> at t = {off.timestamp:.6f} s "
        f"(case +{off.timestamp - case.started:.6f} s){where}{data}: {escape(off.detail)}</p>"
    )


def _check(
    result: CheckResult,
    check: Check | None,
    case: CaseRecord,
    log: FrameLog | None,
    bitrate: int,
    logs: Mapping[str, FrameLog] | None = None,
) -> str:
    v = result.verdict.value
    window = ""
    if result.window:
        a, b = result.window
        window = f" · window +{a - case.started:.3f} s .. +{b - case.started:.3f} s"
    reqs = ", ".join(result.requirements or case.requirements)
    plots = check_plots(check, result, case, log, bitrate, logs)
    return (
        f"<div class='check {v}'><h4>{_badge(result.verdict)} {escape(result.label)}</h4>"
        f"<div class='meta'><code>{escape(result.kind)}</code> · shows {escape(reqs)}{window}</div>"
        f"<p class='summary'>{escape(result.summary)}</p>"
        + _measurements(result)
        + _offender(result, case)
        + (f"<div class='plots'>{''.join(plots)}</div>" if plots else "")
        + "</div>"
    )


def _case(
    case: CaseRecord,
    checks: Sequence[Check | None],
    log: FrameLog | None,
    bitrate: int,
    logs: Mapping[str, FrameLog] | None = None,
) -> str:
    v = case.verdict.value
    reqs = ", ".join(f"<a href='#req-{escape(r)}'>{escape(r)}</a>" for r in case.requirements)
    parts = [
        f"<section class='case {v}' id='case-{escape(case.case_id)}'>",
        f"<h3>{_badge(case.verdict)} {escape(case.case_id)}: {escape(case.title)}</h3>",
        f"<div class='meta'>requirements {reqs} · {'mandatory' if case.mandatory else 'optional'}"
        f" · {case.ended - case.started:.3f} s of bus time (t = {case.started:.6f} .. "
        f"{case.ended:.6f})</div>",
    ]
    if case.error:
        parts.append(f"<div class='alert'><b>error:</b> {escape(case.error)}</div>")
    if case.not_applicable:
        parts.append(
            f"<div class='alert note'><b>not applicable:</b> {escape(case.not_applicable)}</div>"
        )
    if case.markers:
        cells = "".join(
            f"<tr><td>{escape(k)}</td><td class='mono'>+{t - case.started:.6f} s</td></tr>"
            for k, t in case.markers.items()
        )
        parts.append(f"<table><tr><th>step marker</th><th>at</th></tr>{cells}</table>")
    for fuzz in case.fuzz:
        parts.append(_fuzz(fuzz))
    for result, check in zip(case.checks, checks, strict=True):
        parts.append(_check(result, check, case, log, bitrate, logs))
    parts.append("</section>")
    return "".join(parts)


def _fuzz(fuzz: FuzzRecord) -> str:
    """A fuzz step: its seed (to replay), volume, and findings with their suspect frames."""
    head = (
        f"<div class='meta'>fuzz ({escape(fuzz.kind)}) at <code>{escape(fuzz.step)}</code>: "
        f"seed <code>{fuzz.seed}</code>, {fuzz.sent} sent"
        + "".join(f", {escape(str(k))} {escape(str(v))}" for k, v in fuzz.details.items())
        + f", {len(fuzz.findings)} finding(s)</div>"
    )
    items = []
    for finding in fuzz.findings:
        frames = finding.get("suspects") or []
        listing = ""
        if frames:
            shown = "\n".join(escape(str(f)) for f in frames[:64])
            more = f"\n... {len(frames) - 64} more in run.json" if len(frames) > 64 else ""
            listing = (
                f"<details><summary>{len(frames)} suspect(s)</summary>"
                f"<pre class='mono'>{shown}{more}</pre></details>"
            )
        if "payload" in finding:  # a message the fuzzer sent (command fuzzing)
            got = finding.get("got")
            listing += (
                f"<pre class='mono'>payload {escape(str(finding['payload']))}\n"
                f"expected {escape(json.dumps(finding.get('expected')))}\n"
                f"got {escape(json.dumps(got) if got is not None else '-')}</pre>"
            )
        items.append(f"<li>{escape(str(finding.get('summary', '')))}{listing}</li>")
    return head + (f"<ul class='findings'>{''.join(items)}</ul>" if items else "")


def _glance(
    record: RunRecord,
    failed: Sequence[str],
    plan: Plan | None,
    log: FrameLog | None,
    bitrate: int,
    logs: Mapping[str, FrameLog] | None = None,
) -> str:
    """The first plot of the first failing check of each failed requirement, side by side."""
    shown: set[tuple[str, int]] = set()
    figures: list[str] = []
    for req in failed:
        for case in record.cases:
            checks = matched_checks(plan, case)
            k = next(
                (
                    k
                    for k, r in enumerate(case.checks)
                    if r.verdict is not Verdict.PASS
                    and req in (r.requirements or case.requirements)
                ),
                None,
            )
            if k is None:
                continue
            if (case.case_id, k) not in shown:
                shown.add((case.case_id, k))
                plots = check_plots(checks[k], case.checks[k], case, log, bitrate, logs)
                if plots:
                    figures.append(
                        f"<figure>{plots[0]}<figcaption><b>{escape(req)}</b> in "
                        f"<a href='#case-{escape(case.case_id)}'>{escape(case.case_id)}</a>: "
                        f"{escape(case.checks[k].summary)}</figcaption></figure>"
                    )
            break
    return f"<div class='glance'>{''.join(figures)}</div>" if figures else ""


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    return (
        "<table class='kv'>"
        + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        + "</table>"
    )


def _outcome(record: RunRecord) -> tuple[str, str, str]:
    """CSS class, headline word and sentence of the overall result."""
    if record.passed:
        return "PASS", "PASSED", "every mandatory case that applies passed"
    if record.status is not RunStatus.COMPLETED:
        why = record.error or "the run did not complete"
        return "INCOMPLETE", record.status.value, f"{why}; no certificate can be issued for it"
    return "FAIL", "FAILED", "at least one mandatory case did not pass"


def _identity(record: RunRecord) -> str:
    if not record.identity:
        return "not known: the profile declares no identity, or none was given (no certificate)"
    sources = record.identity_sources
    return escape(
        ", ".join(
            f"{k}={v}" + (f" ({sources[k]})" if k in sources else "")
            for k, v in record.identity.items()
        )
    )


def _conformance(record: RunRecord) -> str:
    """The supplier's statement, and the requirements left unclaimed."""
    statement = record.conformance
    if statement is None:
        text = "no statement given: every case applies"
    else:
        features = statement.get("features") or {}
        text = f"{statement.get('source')}: " + (
            ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in features.items())
            or "no optional features"
        )
    not_claimed = record.not_claimed()
    if not_claimed:
        text += f"; not claimed: {', '.join(not_claimed)}"
    return escape(text)


def _mapping(data: Mapping[str, Any]) -> str:
    return escape(", ".join(f"{k}={v}" for k, v in data.items())) or "—"


def render_html(
    record: RunRecord,
    *,
    plan: Plan | None = None,
    log: FrameLog | None = None,
    logs: Mapping[str, FrameLog] | None = None,
    title: str | None = None,
    evidence: str | None = None,
    notes: Sequence[str] = (),
    evaluation: Evaluation | None = None,
) -> str:
    """The report of ``record``; ``plan`` and ``log`` add the plots drawn from the frames
    (``logs``: each named bus's, for the checks of a profile of several buses)."""
    css, word, sentence = _outcome(record)
    bitrate = plan.bitrate if plan is not None else 500_000
    reqs = record.requirement_verdicts()
    case_reqs = {c.case_id: c.requirement_verdicts() for c in record.cases}
    cases_of = {req: [c for c in record.cases if req in case_reqs[c.case_id]] for req in reqs}
    name = f"{record.profile_id} {record.profile_version}"
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{escape(name)}: {word} · harness report</title><style>{_CSS}</style></head>",
        "<body><main>",
        f"<div class='banner {css}'><h1>{escape(name)}: {word}</h1>",
        f"<p>{escape(title or (plan.profile.profile.title if plan else ''))} — DUT "
        f"{escape(record.dut)} ({escape(record.mode)}): {escape(sentence)}</p></div>",
    ]
    excused = (Verdict.PASS, Verdict.SKIPPED, Verdict.NOT_APPLICABLE)
    failed = [r for r, v in reqs.items() if v not in excused]
    if failed:
        items = []
        for req in failed:
            links = ", ".join(
                f"<a href='#case-{escape(c.case_id)}'>{escape(c.case_id)}</a> {_badge(c.verdict)}"
                for c in cases_of[req]
                if case_reqs[c.case_id].get(req) not in excused
            )
            items.append(
                f"<li><a href='#req-{escape(req)}'><b>{escape(req)}</b></a> "
                f"{_badge(reqs[req])} — {links}</li>"
            )
        glance = _glance(record, failed, plan, log, bitrate, logs)
        out.append(
            f"<div class='alert' id='failed-requirements'><b>{len(failed)} requirement(s) not "
            f"met</b><ul>{''.join(items)}</ul>{glance}</div>"
        )
    all_notes = list(notes)
    if evaluation is not None:
        if evaluation.agrees:
            all_notes.append(
                f"re-evaluated offline from the evidence: all {evaluation.checks} checks agree "
                "with the record"
            )
        else:
            from harness.offline import summarize

            out.append(
                "<div class='alert'><b>the evidence does not support this record</b><ul>"
                + "".join(f"<li>{escape(line)}</li>" for line in summarize(evaluation)[:50])
                + "</ul></div>"
            )
    if all_notes:
        out.append(
            "<div class='alert note'><ul>"
            + "".join(f"<li>{escape(n)}</li>" for n in all_notes)
            + "</ul></div>"
        )
    counts: dict[str, int] = {}
    for case in record.cases:
        counts[case.verdict.value] = counts.get(case.verdict.value, 0) + 1
    summary = [
        ("profile", f"{escape(name)} <span class='meta'>sha256 <code>"
         f"{escape(record.profile_digest)}</code></span>"),
        ("DBC", f"<code>{escape(record.dbc_digest)}</code> (sha256)"),
        ("DUT", escape(record.dut)),
        ("DUT identity", _identity(record)),
        ("conformance", _conformance(record)),
        ("mode", escape(record.mode)),
        ("bench", escape(json.dumps(dict(record.bench)))),
        ("run", f"<code>{escape(record.run_id)}</code>, {escape(record.started_wall)} .. "
         f"{escape(record.ended_wall or '—')}"),
        ("status", escape(record.status.value + (f": {record.error}" if record.error else ""))),
        ("result", f"{_badge('PASS' if record.passed else 'FAIL')} {escape(sentence)}"),
        ("cases", f"{len(record.cases)}: " + ", ".join(f"{n} {k}" for k, n in counts.items())),
        ("harness", escape(record.harness_version)),
        ("run seed", f"<code>{record.seed}</code> (fuzz steps without a seed of their own; "
         "replay with <code>--seed</code>)"),
    ]  # fmt: skip
    for who, line in described_timers(record.priority):  # a real-time run's late wake-ups
        summary.append((who, escape(line)))
    if record.selection is not None:
        summary.append(("cases chosen", escape(", ".join(record.selection)) + " (--case)"))
    if evidence:
        summary.append(("evidence", f"<code>{escape(evidence)}</code>"))
    out.append("<h2 id='summary'>Summary</h2>" + _kv(summary))
    rows = []
    for req, verdict in reqs.items():
        links = ", ".join(
            f"<a href='#case-{escape(c.case_id)}'>{escape(c.case_id)}</a>" for c in cases_of[req]
        )
        rows.append(
            f"<tr class='{verdict.value}' id='req-{escape(req)}'><td><b>{escape(req)}</b></td>"
            f"<td>{_badge(verdict)}</td><td>{links}</td></tr>"
        )
    not_run = "<span class='badge SKIPPED'>NOT RUN</span>"
    unrun = [c for c in (plan.cases if plan else ()) if c.case_id not in case_reqs]
    for req in plan.requirement_ids if plan else ():
        if req not in reqs:
            rows.append(
                f"<tr id='req-{escape(req)}'><td><b>{escape(req)}</b></td><td>{not_run}</td>"
                "<td>no case of this run reached it</td></tr>"
            )
    out.append(
        "<h2 id='requirements'>Requirements</h2><table><tr><th>requirement</th><th>verdict</th>"
        f"<th>cases</th></tr>{''.join(rows)}</table>"
    )
    lat = [row for case in record.cases for r in case.checks for row in latency_rows(case, r)]
    if lat:
        out.append(
            "<h2 id='latencies'>Latencies</h2><div class='plots'>"
            + latency_chart(lat, "every latency of the run against its allowed range", 720)
            + "</div>"
        )
    index = "".join(
        f"<tr class='{c.verdict.value}'><td><a href='#case-{escape(c.case_id)}'>"
        f"{escape(c.case_id)}</a></td><td>{_badge(c.verdict)}</td><td>{escape(c.title)}</td>"
        f"<td>{escape(', '.join(c.requirements))}</td><td>{c.ended - c.started:.3f} s</td></tr>"
        for c in record.cases
    ) + "".join(
        f"<tr><td>{escape(c.case_id)}</td><td>{not_run}</td><td>{escape(c.title)}</td>"
        f"<td>{escape(', '.join(c.requirements))}</td><td>—</td></tr>"
        for c in unrun
    )
    out.append(
        "<h2 id='cases'>Cases</h2><table><tr><th>case</th><th>verdict</th><th>title</th>"
        f"<th>requirements</th><th>bus time</th></tr>{index}</table>"
    )
    for case in record.cases:
        out.append(_case(case, matched_checks(plan, case), log, bitrate, logs))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    out.append(
        f"<footer>cc-harness {escape(record.harness_version)} · report written {stamp} · "
        "self-contained: no scripts, no network · times are bus time in seconds</footer>"
    )
    out.append("</main></body></html>\n")
    return "".join(out)

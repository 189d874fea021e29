"""The qualification report as one self-contained HTML page (see :mod:`harness.qualify`).

Same house style as the run report (:mod:`harness.report.html`): inline CSS, no scripts, no
network, every colour doubled by text so that a grey print or a colour-blind reader loses
nothing. From the top: the overall verdict, what failed, what was qualified (harness, profile,
DBC, machine, options), the criteria with their explanations, the verdict on every variant,
the variant-by-case matrix (sticky header and first column, a legend), and the runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from harness.report.html import _kv
from harness.report.html_style import CSS as _CSS

__all__ = ["render_qualification_html"]

_MORE_CSS = """
.wide{max-width:none}
.matrix-wrap{overflow:auto;max-height:85vh;border:1px solid var(--line);margin:8px 0}
table.matrix{margin:0;border-collapse:separate;border-spacing:0;font-size:12px}
table.matrix th,table.matrix td{border:0;border-right:1px solid var(--line);
border-bottom:1px solid var(--line);padding:2px 4px;text-align:center;white-space:nowrap}
table.matrix thead th{position:sticky;top:0;z-index:2;background:#f6f8fa;vertical-align:bottom}
table.matrix th.case span{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:600}
table.matrix th.row{position:sticky;left:0;z-index:1;background:#fff;text-align:left}
table.matrix thead th.row{z-index:3;background:#f6f8fa}
table.matrix td{min-width:26px;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
td.v-PASS{color:var(--pass);background:var(--pass-bg)}
td.v-FAIL{color:#fff;background:var(--fail);font-weight:700}
td.v-ERROR,td.v-INCONCLUSIVE{color:#fff;background:var(--err);font-weight:700}
td.v-SKIPPED,td.v-none,td.v-NOT_APPLICABLE{color:var(--skip);background:var(--skip-bg)}
td.traced{box-shadow:inset 0 0 0 2px #0550ae}
td.spurious{box-shadow:inset 0 0 0 3px #000;text-decoration:underline}
td.flaky{color:#fff;background:var(--inc);font-weight:700}
.legend td,.legend th{font-size:12.5px}.legend td.sample{min-width:34px;text-align:center;
font-family:ui-monospace,"DejaVu Sans Mono",monospace}
ul.details{margin:4px 0;padding-left:18px;font-size:12.5px}
"""

_LETTER = {
    "PASS": "P",
    "FAIL": "F",
    "ERROR": "E",
    "INCONCLUSIVE": "I",
    "SKIPPED": "S",
    "NOT_APPLICABLE": "N",
}
# variant verdict -> the run report's badge colour
_VARIANT_CLASS = {
    "caught": "PASS",
    "missed": "FAIL",
    "spurious": "FAIL",
    "error": "ERROR",
    "incomplete": "ERROR",
    "out of scope": "SKIPPED",
    "not run": "SKIPPED",
}
_VERDICT_CLASS = {"QUALIFIED": "PASS", "NOT QUALIFIED": "FAIL", "INCOMPLETE": "INCOMPLETE"}


def _badge(css: str, text: str) -> str:
    return f'<span class="badge {escape(css)}">{escape(text)}</span>'


def _ok(passed: bool) -> str:
    return _badge("PASS", "HOLDS") if passed else _badge("FAIL", "FAILS")


def _cell(verdict: str | None, traced: bool) -> str:
    """One matrix cell: the verdict's letter, ``*`` when the case traces the requirement,
    ``!`` when a case that does not trace it did not pass (a spurious failure)."""
    letter = _LETTER.get(verdict or "", "–")
    classes = [f"v-{verdict or 'none'}"]
    text = letter
    if traced:
        classes.append("traced")
        text += "*"
    elif verdict not in (None, "PASS", "SKIPPED", "NOT_APPLICABLE"):
        classes.append("spurious")
        text = "!" + text
    title = f"{verdict or 'not run'}" + (" · traces the requirement" if traced else "")
    return f"<td class='{' '.join(classes)}' title='{escape(title)}'>{escape(text)}</td>"


def _reference_cell(tally: Mapping[str, int]) -> str:
    total = sum(tally.values())
    if not total:
        return "<td class='v-none' title='not run'>–</td>"
    if len(tally) == 1:
        verdict = next(iter(tally))
        return (
            f"<td class='v-{escape(verdict)}' title='{escape(verdict)} in all {total} runs'>"
            f"{_LETTER.get(verdict, '?')}</td>"
        )
    text = ", ".join(f"{v} {n}/{total}" for v, n in tally.items())
    return f"<td class='flaky' title='{escape(text)}'>~</td>"


def _legend() -> str:
    rows = [
        ("<td class='sample v-PASS'>P</td>", "PASS"),
        ("<td class='sample v-FAIL'>F</td>", "FAIL"),
        ("<td class='sample v-ERROR'>E</td>", "ERROR (I: INCONCLUSIVE, S: SKIPPED)"),
        ("<td class='sample v-NOT_APPLICABLE'>N</td>", "NOT APPLICABLE (conformance statement)"),
        ("<td class='sample v-none'>–</td>", "not run"),
        (
            "<td class='sample v-FAIL traced'>F*</td>",
            "<b>*</b> (blue frame): the case traces the variant's requirement. F* is where "
            "the variant is caught; P* a case of the requirement the variant slips past (fine "
            "as long as another case catches it)",
        ),
        (
            "<td class='sample v-FAIL spurious'>!F</td>",
            "<b>!</b> (black frame, underlined): a case that does not trace the variant's "
            "requirement did not pass: a spurious failure",
        ),
        (
            "<td class='sample flaky'>~</td>",
            "reference row only: the reference runs disagree on this case (flaky); hover "
            "for the counts",
        ),
    ]
    body = "".join(f"<tr>{sample}<td>{text}</td></tr>" for sample, text in rows)
    return f"<table class='legend'><tr><th>cell</th><th>meaning</th></tr>{body}</table>"


def _matrix(data: Mapping[str, Any]) -> str:
    cases: Sequence[Mapping[str, Any]] = data["cases"]
    head = "".join(
        f"<th class='case' title='{escape(c['id'])}: {escape(', '.join(c['requirements']))}"
        f"{'' if c['mandatory'] else ' (optional)'}'><span>{escape(c['id'])}</span></th>"
        for c in cases
    )
    reference: Mapping[str, Mapping[str, int]] = data["reference"]
    n_refs = max((sum(t.values()) for t in reference.values()), default=0)
    rows = [
        f"<tr><th class='row'>reference ({n_refs} runs)</th><td></td><td></td>"
        + "".join(_reference_cell(reference.get(c["id"], {})) for c in cases)
        + "</tr>"
    ]
    for row in data["rows"]:
        css = _VARIANT_CLASS.get(row["verdict"], "SKIPPED")
        cells = "".join(
            _cell(row["cells"][c["id"]]["verdict"], row["cells"][c["id"]]["traces_requirement"])
            for c in cases
        )
        rows.append(
            f"<tr id='variant-{escape(row['variant'])}'><th class='row'>"
            f"{escape(row['variant'])}</th><td>{escape(row['requirement'])}</td>"
            f"<td>{_badge(css, row['verdict'])}</td>{cells}</tr>"
        )
    return (
        "<div class='matrix-wrap'><table class='matrix'><thead><tr><th class='row'>variant</th>"
        f"<th>requirement</th><th>verdict</th>{head}</tr></thead><tbody>{''.join(rows)}"
        "</tbody></table></div>"
    )


def _details(items: Sequence[str], limit: int = 40) -> str:
    if not items:
        return ""
    shown = "".join(f"<li>{escape(i)}</li>" for i in items[:limit])
    more = (
        f"<li>… {len(items) - limit} more in qualification.json</li>" if len(items) > limit else ""
    )
    return f"<ul class='details'>{shown}{more}</ul>"


def _headline(report: Mapping[str, Any]) -> str:
    verdict = report["verdict"]
    if verdict == "QUALIFIED":
        return "every criterion holds: the harness may be used with this profile"
    if verdict == "INCOMPLETE":
        return (
            f"{report.get('incomplete_reason') or 'the qualification did not finish'}; "
            "an incomplete qualification never qualifies"
        )
    failed = [c["id"] for c in report["criteria"] if not c["passed"]]
    return f"{len(failed)} of {len(report['criteria'])} criteria fail: {', '.join(failed)}"


def render_qualification_html(report: Mapping[str, Any]) -> str:
    """The page for ``report``, the JSON form written to ``qualification.json``."""
    profile = report["profile"]
    name = f"{profile['id']} {profile['version']}"
    verdict = report["verdict"]
    css = _VERDICT_CLASS.get(verdict, "INCOMPLETE")
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{escape(name)}: {escape(verdict)} · harness tool qualification</title>",
        f"<style>{_CSS}{_MORE_CSS}</style></head><body><main class='wide'>",
        f"<div class='banner {css}'><h1>Tool qualification of cc-harness "
        f"{escape(str(report.get('harness_version')))} for {escape(name)}: {escape(verdict)}"
        f"</h1><p>{escape(_headline(report))}</p></div>",
    ]
    failed = [c for c in report["criteria"] if not c["passed"]]
    if failed:
        items = "".join(
            f"<li><b>{escape(c['title'])}</b>: {escape(c['explanation'])}</li>" for c in failed
        )
        out.append(f"<div class='alert'><b>criteria that fail</b><ul>{items}</ul></div>")
    if report.get("notes"):
        out.append(
            "<div class='alert note'><ul>"
            + "".join(f"<li>{escape(n)}</li>" for n in report["notes"])
            + "</ul></div>"
        )
    machine = report.get("machine", {})
    options = report.get("options", {})
    summary = [
        ("verdict", f"{_badge(css, verdict)} exit code {report['exit_code']}"),
        ("harness", escape(str(report.get("harness_version")))),
        ("profile", f"{escape(name)} <code>{escape(str(profile['path']))}</code><br>sha256 "
         f"<code>{escape(profile['sha256'])}</code>"),
        ("DBC", f"sha256 <code>{escape(str(report.get('dbc_sha256')))}</code>"),
        ("requirements traced", escape(", ".join(profile["traced_requirements"]))),
        ("date", escape(f"{report.get('started')} .. {report.get('ended') or 'running'}")
         + (f" ({report['seconds']:.0f} s)" if report.get("seconds") is not None else "")),
        ("machine", escape(f"{machine.get('platform')} · {machine.get('cpus')} CPUs · "
                           f"{machine.get('implementation')} {machine.get('python')} · "
                           f"{machine.get('node')}")),
        ("options", escape(", ".join(f"{k}={v}" for k, v in options.items()))),
        ("real-time bench", escape(str(report.get("realtime_bench")))),
        ("output", f"<code>{escape(str(report.get('out')))}</code>"),
    ]  # fmt: skip
    out.append("<h2 id='summary'>What was qualified</h2>" + _kv(summary))
    rows = "".join(
        f"<tr class='{'' if c['passed'] else 'FAIL'}'><td>{i}</td><td><b>{escape(c['id'])}"
        f"</b><br>{escape(c['title'])}</td><td>{_ok(c['passed'])}</td>"
        f"<td>{escape(c['explanation'])}{_details(c['details'])}</td></tr>"
        for i, c in enumerate(report["criteria"], 1)
    )
    out.append(
        "<h2 id='criteria'>Criteria</h2><table><tr><th>#</th><th>criterion</th><th>result</th>"
        f"<th>explanation</th></tr>{rows}</table>"
    )
    vrows = "".join(
        f"<tr class='{'FAIL' if _VARIANT_CLASS.get(v['verdict']) in ('FAIL', 'ERROR') else ''}'>"
        f"<td><a href='#variant-{escape(v['name'])}'>{escape(v['name'])}</a></td>"
        f"<td>{escape(v['requirement'])}</td>"
        f"<td>{_badge(_VARIANT_CLASS.get(v['verdict'], 'SKIPPED'), v['verdict'])}</td>"
        f"<td>{escape(v['description'])}</td><td>{escape(v['explanation'])}</td></tr>"
        for v in report["variants"]
    )
    out.append(
        "<h2 id='variants'>Faulty variants</h2><p class='meta'>caught: failed by a case "
        "tracing its requirement and by nothing else · missed: every case tracing it passed · "
        "spurious: failed a case or check that does not trace it · error: a case ended in "
        "ERROR/INCONCLUSIVE · out of scope: no case of the profile traces its requirement "
        "(listed, not a failure)</p><table><tr><th>variant</th><th>requirement</th>"
        f"<th>verdict</th><th>what is wrong with it</th><th>explanation</th></tr>{vrows}</table>"
    )
    info = [
        ("out of scope (no case traces their requirement)",
         ", ".join(report["out_of_scope"]) or "none"),
        ("requirements without a faulty variant (informational: the harness cannot show "
         "that it fails them)", ", ".join(report["requirements_without_variant"]) or "none"),
    ]  # fmt: skip
    out.append(_kv([(escape(k), escape(v)) for k, v in info]))
    out.append(
        "<h2 id='matrix'>Variant-by-case matrix</h2><p class='meta'>Rows: the reference "
        "runs (summarised) and each faulty variant; columns: the profile's cases in run "
        "order. Hover a cell or a column for details.</p>" + _legend() + _matrix(report["matrix"])
    )
    rrows = []
    for run in report["runs"]:
        counts = ", ".join(f"{n} {k}" for k, n in (run.get("cases") or {}).items()) or "—"
        seconds = f"{run['seconds']:.1f} s" if run.get("seconds") is not None else "—"
        bad = run["verdict"] not in ("PASS", "caught", "out of scope")
        rrows.append(
            f"<tr class='{'FAIL' if bad else ''}'><td>{escape(run['name'])}"
            + (f"<br><small>on {escape(run['worker'])}</small>" if run.get("worker") else "")
            + "</td>"
            f"<td>{escape(run['kind'])}</td><td>{escape(run['mode'])}</td>"
            f"<td>{escape(run['verdict'])}</td><td>{escape(counts)}</td><td>{seconds}</td>"
            f"<td>{escape(run.get('error') or '')}</td>"
            f"<td><code>{escape(run.get('evidence') or run.get('replay') or '—')}</code></td></tr>"
        )
    out.append(
        "<h2 id='runs'>Runs</h2><table><tr><th>run</th><th>kind</th><th>mode</th>"
        "<th>verdict</th><th>cases</th><th>wall time</th><th>error</th>"
        "<th>evidence (or the command that replays the run)</th></tr>" + "".join(rrows) + "</table>"
    )
    out.append(
        f"<footer>cc-harness {escape(str(report.get('harness_version')))} · "
        f"{escape(str(report.get('format')))} · self-contained: no scripts, no network · "
        "the same content is in qualification.json</footer></main></body></html>\n"
    )
    return "".join(out)

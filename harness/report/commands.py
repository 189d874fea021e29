"""``harness evaluate`` and ``harness report``, and the outputs ``harness certify`` ends with.

``harness evaluate DIR`` recomputes every verdict of an evidence folder from its trace and
profile alone (see :mod:`harness.offline`) and reports each difference from ``run.json``.
Exit codes: 0 every check, case verdict, requirement verdict and the overall result agree;
1 something differs (or the profile/DBC is not the one the record names); 2 bad input (no
run.json, unreadable trace, no profile); 3 the run did not complete, whatever else (killed,
aborted, could not run, never sealed): it is evaluated as far as it got, and the output says
so first.

``harness report DIR`` writes the HTML report and JUnit XML of an evidence folder into its
``report/`` subfolder (outputs derived from the evidence, which the evidence manifest leaves
out); the ``html`` and ``junit`` outputs (:mod:`harness.report.outputs`) write the same two
files at the end of every run. For a run that
did not complete it says so first and exits 3 after writing them.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `harness --help` stays fast
    from rich.console import Console

    from harness.observe import FrameLog
    from harness.offline import Evaluation
    from harness.plan import Plan
    from harness.record import RunRecord

__all__ = ["register", "report_paths", "write_reports", "write_text"]

EXIT_AGREE, EXIT_DIFFER, EXIT_INCOMPLETE = 0, 1, 3
REPORT_DIR = "report"  # derived outputs; the evidence manifest does not cover this folder


def report_paths(folder: Path) -> tuple[Path, Path]:
    """Where the HTML report and the JUnit XML of an evidence folder go by default."""
    return folder / REPORT_DIR / "report.html", folder / REPORT_DIR / "junit.xml"


def write_text(path: Path, text: str) -> None:
    """Write via a temporary file and a rename: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(
    folder: Path,
    record: RunRecord,
    *,
    plan: Plan | None,
    log: FrameLog | None,
    logs: Mapping[str, FrameLog] | None = None,
    html: Path | None = None,
    junit: Path | None = None,
    extra_junit: Path | None = None,
    notes: list[str] | None = None,
    evaluation: Evaluation | None = None,
) -> list[Path]:
    """Write the HTML report and JUnit XML (plus an extra JUnit copy); the paths written."""
    from harness.report.html import render_html
    from harness.report.junit import junit_xml

    html_path, junit_path = report_paths(folder)
    html_path = html or html_path
    junit_path = junit or junit_path
    page = render_html(
        record,
        plan=plan,
        log=log,
        logs=logs,
        evidence=str(folder),
        notes=notes or [],
        evaluation=evaluation,
    )
    xml = junit_xml(record, plan.cases if plan is not None else ())
    written = [html_path, junit_path]
    write_text(html_path, page)
    write_text(junit_path, xml)
    if extra_junit is not None:
        write_text(extra_junit, xml)
        written.append(extra_junit)
    return written


# -- commands ------------------------------------------------------------------------------------
def incomplete_reason(folder: Path) -> str | None:
    """Why the evidence folder's run is not a complete one (killed, aborted, could not run,
    never sealed), or None. A folder that is not evidence at all is left to the reader."""
    from harness.errors import EvidenceIncomplete, InputError
    from harness.evidence import check_bundle

    try:
        check_bundle(folder, accept=("COMPLETED",))
    except EvidenceIncomplete as exc:
        return str(exc)
    except InputError:
        return None
    return None


def _say_incomplete(reason: str | None, err: Console) -> None:
    from rich.markup import escape

    if reason is not None:
        err.print(f"[bold magenta]INCOMPLETE[/]: {escape(reason)}", soft_wrap=True)


def _shown_dbc(dbc: object) -> str:
    """The DBC an evaluation read, as said: a file or folder, or each bus's given file."""
    per_bus = getattr(dbc, "per_bus", None)  # harness.profile.compile_buses.DbcFiles
    if per_bus is not None:
        given = ", ".join(f"{bus}={path}" for bus, path in per_bus.items())
        folder = getattr(dbc, "folder", None)
        return given + (f" (the others from {folder})" if folder is not None else "")
    return str(dbc or "named by the profile")


def cmd_evaluate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.markup import escape

    from harness.offline import evaluate_evidence, load_evidence

    start = time.perf_counter()
    incomplete = incomplete_reason(args.folder)
    _say_incomplete(incomplete, out)  # first, before any verdict
    ev = load_evidence(args.folder, args.profile, dbc_choice(args.dbc))
    result = evaluate_evidence(ev)
    seconds = time.perf_counter() - start
    say = functools.partial(out.print, soft_wrap=True)
    rec = ev.record
    rx = ev.log.rx_count
    say(
        f"re-evaluating {escape(str(args.folder))}: {rec.profile_id} {rec.profile_version}, "
        f"DUT {escape(rec.dut)} ({rec.mode}), run {rec.run_id}, status {rec.status.value}"
    )
    say(
        f"  profile {escape(str(ev.profile_path))}, DBC "
        f"{escape(_shown_dbc(ev.dbc_path))}; trace {ev.frames} frames "
        f"({rx} from the DUT, {ev.frames - rx} from the harness)"
    )
    for note in ev.notes:
        say(f"[yellow]note:[/] {escape(note)}")
    for case in result.cases:
        if case.agrees and args.quiet:
            continue
        mark = "[green]agrees[/]" if case.agrees else "[bold red]DIFFERS[/]"
        verdicts = (
            case.recorded.value
            if case.recorded is case.recomputed
            else f"record {case.recorded.value}, evidence {case.recomputed.value}"
        )
        n = len(case.checks)
        say(f"{mark} {case.case_id}: {verdicts} ({n} check{'s' if n != 1 else ''})")
        for problem in case.problems:
            say(f"    {escape(problem)}")
        for check in case.checks:
            for diff in check.differences:
                say(
                    f"    check {check.index + 1} {check.kind} {escape(repr(check.label))}: "
                    f"{escape(diff)}"
                )
    for problem in result.problems:
        say(f"[bold red]DIFFERS[/] {escape(problem)}")
    what = (
        f"{result.checks} checks of {len(result.cases)} cases re-evaluated from the evidence "
        f"in {seconds:.2f} s"
    )
    if result.agrees:
        say(f"[bold green]AGREES[/]: {what}; every verdict and measurement matches run.json")
        if incomplete is not None:
            say("[bold magenta]INCOMPLETE[/]: the run did not complete; what it recorded agrees")
            return EXIT_INCOMPLETE
        return EXIT_AGREE
    bad = sum(1 for c in result.cases if not c.agrees)
    say(
        f"[bold red]DIFFERS[/]: {what}; {bad} case(s) and {len(result.problems)} run-wide "
        "result(s) do not match run.json"
    )
    if incomplete is not None:  # the run's state comes first: it did not complete
        say("[bold magenta]INCOMPLETE[/]: the run did not complete")
        return EXIT_INCOMPLETE
    return EXIT_DIFFER


def cmd_report(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.markup import escape

    from harness.offline import evaluate_evidence, load_evidence
    from harness.outputs import check_output_file

    for path, flag in ((args.out, "--out"), (args.junit, "--junit")):
        if path is not None:
            check_output_file(path, flag)
    incomplete = incomplete_reason(args.folder)
    _say_incomplete(incomplete, err)  # first, before the report is written
    ev = load_evidence(args.folder, args.profile, dbc_choice(args.dbc), need_profile=False)
    evaluation = evaluate_evidence(ev) if ev.plan is not None else None
    paths = write_reports(
        args.folder,
        ev.record,
        plan=ev.plan,
        log=ev.log,
        logs=ev.logs,
        html=args.out,
        junit=args.junit,
        notes=ev.notes,
        evaluation=evaluation,
    )
    for note in ev.notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    out.print(f"report: {escape(str(paths[0]))}\njunit: {escape(str(paths[1]))}")
    return EXIT_INCOMPLETE if incomplete is not None else 0


def _inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="evidence folder of a run")
    parser.add_argument(
        "--profile",
        type=Path,
        help="the profile the run used (default: the folder's copy, profile.yaml)",
    )
    parser.add_argument(
        "--dbc",
        action="append",
        metavar="[BUS=]PATH",
        help="the DBC the run used (default: the folder's dbc/*.dbc); on a profile of several "
        "buses BUS=PATH, once per bus to replace (the others: the folder's dbc/BUS/FILE)",
    )


def dbc_choice(values: list[str] | None) -> Path | dict[str, Path] | None:
    """``--dbc`` as given: None, one plain PATH, or BUS=PATH per bus (a bus named twice, or
    a plain PATH beside others, is an InputError naming it)."""
    from harness.errors import InputError

    if not values:
        return None
    named: dict[str, Path] = {}
    plain: list[str] = []
    for value in values:
        bus, sep, path = value.partition("=")
        if not sep or not bus or os.sep in bus or "/" in bus:  # a path, not BUS=PATH
            plain.append(value)
            continue
        if not path:
            raise InputError(
                f"--dbc {value}: no file after '{bus}='", expected="--dbc BUS=PATH", got=value
            )
        if bus in named:
            raise InputError(
                f"--dbc names bus '{bus}' twice", expected="one --dbc BUS=PATH per bus", got=value
            )
        named[bus] = Path(path)
    if plain and (named or len(plain) > 1):
        raise InputError(
            f"--dbc {plain[-1]} is a plain PATH beside other --dbc options",
            expected="one --dbc PATH (one bus), or --dbc BUS=PATH for each bus",
            got=plain[-1],
        )
    return Path(plain[0]) if plain else named


def register(sub: Any) -> None:
    """Add ``evaluate`` and ``report`` to the CLI's subcommands."""
    ev = sub.add_parser(
        "evaluate",
        help="recompute every verdict of an evidence folder offline and compare",
        description="Recompute every check of the run in DIR from its recorded trace and "
        "profile alone (no bus, no DUT) and report any difference from its run.json.",
        epilog="exit codes: 0 everything agrees, 1 something differs, 2 bad input, 3 the run "
        "is incomplete (said first; what it recorded is still evaluated)",
    )
    _inputs(ev)
    ev.add_argument("--quiet", action="store_true", help="list only the cases that differ")
    ev.set_defaults(handler=cmd_evaluate)
    rep = sub.add_parser(
        "report",
        help="write the HTML report and JUnit XML of an evidence folder",
        description="Write DIR/report/report.html (self-contained, with plots drawn from the "
        "trace) and DIR/report/junit.xml. The report also says whether an offline "
        "re-evaluation agrees with the record.",
    )
    _inputs(rep)
    rep.add_argument("--out", type=Path, help="HTML file to write instead")
    rep.add_argument("--junit", type=Path, help="JUnit XML file to write instead")
    rep.set_defaults(handler=cmd_report)

"""Console output with rich: live progress while cases run, then the summary tables.

:class:`ConsoleOutput` is the ``console`` output (:mod:`harness.run_outputs`): progress and
one line per case on the error console (unless quiet), the summary on the console.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.plan import PlannedCase, PlannedStep
from harness.record import CaseRecord, RunRecord, Verdict
from harness.run_outputs import Output, OutputSettings, RunEnd, RunStart
from harness.runner import RunObserver
from harness.timerwatch import described as described_timers

__all__ = ["ConsoleOutput", "ConsoleProgress", "print_summary"]

_STYLE = {
    Verdict.PASS: "bold green",
    Verdict.FAIL: "bold red",
    Verdict.ERROR: "bold magenta",
    Verdict.INCONCLUSIVE: "bold yellow",
    Verdict.SKIPPED: "dim",
    Verdict.NOT_APPLICABLE: "bold cyan",
}


def verdict_text(v: Verdict) -> str:
    return f"[{_STYLE[v]}]{v.text}[/]"


class ConsoleProgress(RunObserver):
    """A progress bar over cases, and one line per finished case."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} cases"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("certifying", total=total)

    def __enter__(self) -> ConsoleProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def case_started(self, case: PlannedCase, index: int, total: int) -> None:
        self.progress.update(self.task, description=case.case_id, total=total)

    def step_started(self, case: PlannedCase, step: PlannedStep) -> None:
        self.progress.update(self.task, description=f"{case.case_id} {step.action}")

    def case_finished(self, record: CaseRecord) -> None:
        self.progress.advance(self.task)
        self.console.print(
            f"{verdict_text(record.verdict)} {record.case_id} "
            f"[dim]({', '.join(record.requirements)})[/] {escape(record.title)}"
        )
        for check in record.checks:
            if check.verdict is not Verdict.PASS:
                self.console.print(
                    f"    {verdict_text(check.verdict)} {escape(check.label)}: "
                    f"{escape(check.summary)}"
                )
                if check.offender is not None:
                    self.console.print(f"      {escape(check.offender.describe())}")
        if record.error:
            self.console.print(f"    [magenta]error:[/] {escape(record.error)}")
        if record.not_applicable:
            self.console.print(f"    [cyan]not applicable:[/] {escape(record.not_applicable)}")
        for fuzz in record.fuzz:
            for finding in fuzz.findings[:3]:
                self.console.print(
                    f"    [yellow]fuzz finding[/] (seed {fuzz.seed}): "
                    f"{escape(str(finding.get('summary', '')))}"
                )


def print_summary(console: Console, record: RunRecord, evidence: str | None) -> None:
    """The per-requirement table, the per-case table, and the overall result."""
    if record.identity:
        console.print(
            "DUT identity: " + escape(", ".join(f"{k}={v}" for k, v in record.identity.items()))
        )
    else:
        console.print("DUT identity: not known (the profile declares none, or none was given)")
    if record.conformance is not None:
        features = record.conformance.get("features") or {}
        console.print(
            f"conformance statement ({escape(str(record.conformance.get('source')))}): "
            + (
                escape(", ".join(f"{k} {'yes' if v else 'no'}" for k, v in features.items()))
                or "no optional features"
            )
        )
    reqs = Table(title=f"{record.profile_id} {record.profile_version}: requirements")
    reqs.add_column("requirement")
    reqs.add_column("verdict")
    reqs.add_column("cases")
    for req, verdict in record.requirement_verdicts().items():
        cases = [c.case_id for c in record.cases if req in c.requirements]
        reqs.add_row(req, verdict_text(verdict), ", ".join(cases))
    console.print(reqs)
    counts: dict[Verdict, int] = {}
    for case in record.cases:
        counts[case.verdict] = counts.get(case.verdict, 0) + 1
    tally = ", ".join(f"{n} {v.text.lower()}" for v, n in counts.items())
    console.print(f"{len(record.cases)} cases: {tally}  [dim]({record.mode}, DUT {record.dut})[/]")
    for who, line in described_timers(record.priority):  # a real-time run's
        console.print(f"[dim]{who}: {escape(line)}[/]")
    findings = sum(len(f.findings) for c in record.cases for f in c.fuzz)
    if findings:
        console.print(
            f"fuzz: {findings} finding(s) in run.json; run seed {record.seed} "
            f"(replay: --seed {record.seed}, or the step's recorded seed as its 'seed:')"
        )
        shown = [(c.case_id, f) for c in record.cases for z in c.fuzz for f in z.findings][:3]
        for case_id, finding in shown:
            console.print(f"  fuzz finding {case_id}: {escape(str(finding.get('summary', '')))}")
    not_claimed = record.not_claimed()
    if not_claimed:
        console.print(
            "not claimed (only cases that do not apply to the part trace them): "
            + ", ".join(not_claimed)
        )
    if evidence:
        console.print(f"evidence: {escape(evidence)}")
    if record.passed:
        console.print("[bold green]PASSED[/]: every mandatory case that applies passed")
    elif record.status.value != "COMPLETED":
        console.print(
            f"[bold magenta]{record.status.value}[/]: "
            f"{escape(record.error or 'run did not complete')}"
        )
    else:
        console.print("[bold red]FAILED[/]: at least one mandatory case did not pass")


class ConsoleOutput(Output):
    """The ``console`` output: the progress bar and case lines while the run goes, and the
    requirement and case tables with the overall result when it ends."""

    def __init__(self, settings: OutputSettings) -> None:
        super().__init__(settings)
        self.out: Console = settings.console or Console(highlight=False, emoji=False)
        err: Console = settings.error_console or Console(stderr=True, highlight=False)
        self.progress = ConsoleProgress(err if not settings.quiet else Console(quiet=True), 0)
        self.err = err

    def run_started(self, start: RunStart) -> None:
        self.progress.progress.update(self.progress.task, total=len(start.plan.cases))
        self.progress.__enter__()

    def case_started(self, case: PlannedCase, index: int, total: int) -> None:
        self.progress.case_started(case, index, total)

    def step_started(self, case: PlannedCase, step: PlannedStep) -> None:
        self.progress.step_started(case, step)

    def case_finished(self, record: CaseRecord) -> None:
        self.progress.case_finished(record)

    def run_finished(self, end: RunEnd) -> None:
        self.progress.__exit__()
        record = end.record
        where = str(end.evidence) if end.evidence is not None else None
        # a run that could not even start has only its error to show (the CLI prints it)
        if record.cases or end.error is None or isinstance(end.error, KeyboardInterrupt):
            print_summary(self.out, record, where)
        if isinstance(end.error, KeyboardInterrupt) and where is not None:
            self.err.print("[bold magenta]aborted[/]: evidence so far is in " + escape(where))

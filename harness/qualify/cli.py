"""``harness qualify PROFILE``: qualify the harness as a tool for one profile.

Runs the reference simulator ``--runs`` times simulated and ``--realtime-runs`` times in real
time, then every faulty variant (simulated), judges the criteria of :mod:`harness.qualify`
and writes ``qualification.json`` and ``qualification.html`` into the output folder.

With ``--queue BROKER`` the runs go to the bench workers of ``harness queue worker`` instead
(:mod:`harness.qualify.queued`) and are judged the same way.

Exit codes: 0 every criterion holds (qualified), 1 a criterion fails, 2 bad input, 3 the
qualification could not complete (interrupted by Ctrl-C or SIGTERM, a reference run that
could not complete, a worker process that died, a queued run a bench refused); its report
then says INCOMPLETE. An unreachable ``--queue`` broker is exit 3 before anything is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.bench import Bench, check_references, load_bench
from harness.dut import DutProvider, Variant, get_provider, provider_for
from harness.errors import InputError, RunAborted
from harness.outputs import check_out_folder
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.qualify import (
    Qualification,
    QualificationRun,
    RunSpec,
    VariantVerdict,
    assess,
    assess_variant,
    machine_description,
)
from harness.qualify.options import register
from harness.qualify.runs import (
    Execution,
    QualifyObserver,
    QualifyOptions,
    default_jobs,
    execute,
    plan_specs,
    prune_evidence,
)
from harness.record import CaseRecord, RunStatus
from harness.session import harness_version
from harness.sim import provider as _builtin_duts  # noqa: F401  (registers cc-tcu-1)
from harness.trace import write_json_atomic

__all__ = ["register", "write_qualification"]

JSON_NAME, HTML_NAME = "qualification.json", "qualification.html"


def _simulator(dut: str = "sim", requirement_set: str = "") -> DutProvider:
    """The simulated DUT qualified against (``--dut``): its variants are the faulty parts it
    runs. A bare ``sim`` is the registered part implementing the profile's requirement set
    (``requirement_set``; cc-gw-1 for CC-GW-1), else the reference cc-tcu-1."""
    kind, _, name = dut.partition(":")
    if kind != "sim" or name.count(":"):
        raise InputError(
            "qualify --dut", expected="sim or sim:NAME (a simulated DUT, no variant)", got=dut
        )
    return get_provider(name or provider_for(requirement_set))


def _selected_variants(provider: DutProvider, names: list[str] | None) -> dict[str, Variant]:
    if not names:
        return dict(provider.variants)
    chosen: dict[str, Variant] = {}
    for name in names:
        chosen[name] = provider.variant(name)  # InputError naming the valid ones
    return chosen


class _ConsoleObserver(QualifyObserver):
    """One line per finished run; a real-time run also says when it starts, and names each of
    its cases that did not pass as it finishes."""

    def __init__(self, console: Console, plan: Plan) -> None:
        self.console = console
        self.plan = plan
        self.cases_done = 0

    def run_started(self, spec: RunSpec, done: int, total: int) -> None:
        if spec.realtime:
            self.cases_done = 0
            seconds = _bus_time(self.plan)
            length = f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"
            self.console.print(
                f"[{done + 1:>{len(str(total))}}/{total}] {spec.describe()} started "
                f"(real time, about {length} of bus time)"
            )

    def case_finished(self, spec: RunSpec, record: CaseRecord) -> None:
        self.cases_done += 1
        if record.verdict.value not in ("PASS", "NOT_APPLICABLE"):
            self.console.print(
                f"    {escape(record.case_id)}: {record.verdict.value} "
                f"({self.cases_done}/{len(self.plan.cases)} cases)"
            )

    def run_finished(self, run: QualificationRun, done: int, total: int) -> None:
        rec = run.record
        spec = run.spec
        if spec.variant is not None:
            outcome = assess_variant(get_provider(spec.dut).variant(spec.variant), rec, self.plan)
            style = _VARIANT_STYLE.get(outcome.verdict, "bold red")
            what = f"[{style}]{outcome.verdict.value}[/]"
            if outcome.verdict is VariantVerdict.CAUGHT:
                what += f" by {', '.join(outcome.detecting_cases)}"
            elif outcome.verdict is not VariantVerdict.OUT_OF_SCOPE:
                what += f": {escape(outcome.explanation)}"
            label = f"{spec.describe()} ({outcome.variant.requirement})"
        else:
            failed = sum(1 for c in rec.cases if c.verdict.value not in ("PASS", "NOT_APPLICABLE"))
            if rec.passed and not failed:
                what = f"[bold green]PASS[/] ({len(rec.cases)} cases)"
            elif rec.status is not RunStatus.COMPLETED:
                what = f"[bold magenta]{rec.status.value}[/]: {escape(rec.error or '')}"
            else:
                what = f"[bold red]FAIL[/] ({failed} of {len(rec.cases)} cases did not pass)"
            label = spec.describe()
        where = f" [dim]on {escape(run.worker)}[/]" if run.worker else ""
        self.console.print(
            f"[{done:>{len(str(total))}}/{total}] {label}: {what} [dim]{run.seconds:.1f} s[/]"
            + where,
            soft_wrap=True,
        )


_VARIANT_STYLE = {
    VariantVerdict.CAUGHT: "green",
    VariantVerdict.OUT_OF_SCOPE: "dim",
    VariantVerdict.INCOMPLETE: "bold magenta",
    VariantVerdict.ERROR: "bold magenta",
}


def _bus_time(plan: Plan) -> float:
    before = sum(s.duration for s in plan.before_each if s.action in ("wait", "observe"))
    return sum(c.duration + before for c in plan.cases)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_qualification(out_dir: Path, q: Qualification, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``qualification.json`` and ``qualification.html`` atomically; the JSON form."""
    from harness.report.commands import write_text
    from harness.report.qualify_html import render_qualification_html

    report = q.to_json(meta)
    write_json_atomic(out_dir / JSON_NAME, report)
    write_text(out_dir / HTML_NAME, render_qualification_html(report))
    return report


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise RunAborted("terminated by SIGTERM")


def _queue_broker(args: argparse.Namespace) -> str | None:
    """The ``--queue`` broker (``--queue`` alone: ``$CC_HARNESS_BROKER``); None: run here.
    The options that only mean something one way or the other are refused the other way."""
    from harness.queue.cli import BROKER_ENV

    broker: str | None = args.queue
    if broker == "":
        broker = os.environ.get(BROKER_ENV) or None
        if broker is None:
            raise InputError(
                "--queue without a broker URL",
                expected=f"--queue redis://HOST:PORT/DB or ${BROKER_ENV}",
            )
    if broker is None:
        if args.needs is not None:
            raise InputError("--needs", expected="--queue BROKER too (needs route queued runs)")
        return None
    if args.bench is not None:
        raise InputError(
            "--bench with --queue: a queued real-time run uses the bench of the worker that "
            "takes it",
            expected="--needs to say what that bench must have, --ics for the part's statement",
        )
    if args.jobs is not None:
        raise InputError(
            "--jobs with --queue: the bench workers carry out the runs",
            expected="no --jobs (start more 'harness queue worker's instead)",
        )
    return broker


def _realtime_bench(args: argparse.Namespace, bench: Bench, queued: dict[str, Any]) -> Any:
    """The report's ``realtime_bench``: the bench (as data), the default's name, or whose."""
    if queued:
        return f"the bench of the queue worker that took each run (needs: {args.needs or 'any'})"
    if args.bench:
        return bench.with_channel_default().describe()
    return "default: python-can virtual CAN, embedded MQTT broker"


def cmd_qualify(args: argparse.Namespace, out: Console, err: Console) -> int:
    plan = load_profile(args.profile)
    broker = _queue_broker(args)
    bench = load_bench(args.bench)
    check_references(bench, broker=args.realtime_runs > 0 and broker is None)
    simulator = _simulator(args.dut, plan.profile.profile.requirements.id)
    from harness.conformance import conformance_for

    conformance = conformance_for(  # the part's statement: --ics, else the bench's
        plan.profile.features, plan.profile_id, bench.conformance, bench.source, args.ics
    )
    variants = _selected_variants(simulator, args.variant)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir: Path = args.out or Path("runs") / f"qualify-{plan.profile_id}-{stamp}"
    if (out_dir / JSON_NAME).exists():
        raise InputError(
            f"{out_dir} already holds a qualification; give a new or empty --out folder"
        )
    check_out_folder(out_dir, what="qualification folder", empty=False)
    if args.seed is not None and args.seed >= 2**63:
        raise InputError("--seed", expected="an integer from 0 to 2^63-1", got=args.seed)
    options = QualifyOptions(
        runs=args.runs,
        realtime_runs=args.realtime_runs,
        variants=tuple(variants),
        jobs=args.jobs or default_jobs(),
        dut=simulator.name,
        keep_evidence=args.keep_evidence,
        seed=args.seed if args.seed is not None else secrets.randbits(32),
    )
    specs = plan_specs(options)
    queued: dict[str, Any] = {}
    if broker is not None:
        from harness.qualify.queued import connect, realtime_needs
        from harness.queue.app import where

        needs = realtime_needs(plan, args.needs)
        app = connect(broker)  # unreachable: exit 3, nothing written yet
        queued = {"queue": where(broker), "needs": needs.to_json()}
    started, clock = _now(), time.monotonic()
    meta: dict[str, Any] = {
        "harness_version": harness_version(),
        "started": started,
        "ended": None,
        "seconds": None,
        "machine": machine_description(),
        "options": {
            "dut": simulator.name,
            "runs": options.runs,
            "realtime_runs": options.realtime_runs,
            "variants": list(args.variant) if args.variant else "all",
            "jobs": None if queued else options.jobs,
            "keep_evidence": options.keep_evidence,
            "seed": options.seed,
            **queued,
        },
        "realtime_bench": _realtime_bench(args, bench, queued),
        "bench_file": str(args.bench) if args.bench else None,
        "out": str(out_dir),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    # Until it finishes, the report on disk says the qualification is incomplete.
    running = assess(
        plan,
        specs,
        [],
        variants,
        incomplete_reason="still running (or died)",
        all_variants=dict(simulator.variants),
        seed=options.seed,
    )
    write_qualification(out_dir, running, meta)
    n_sim = options.runs + len(variants)
    where_to = (
        f"over the queue {queued['queue']}"
        if queued
        else f"in {min(options.jobs, n_sim)} processes"
    )
    err.print(
        f"qualifying harness {meta['harness_version']} for {plan.profile_id} {plan.version}: "
        f"{options.runs} simulated + {options.realtime_runs} real-time reference runs, "
        f"{len(variants)} variants ({n_sim} simulated runs {where_to}), "
        f"fuzz run seed {options.seed}; report in {out_dir}",
        soft_wrap=True,
    )
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    execution: Execution
    try:
        if broker is not None:
            from harness.qualify.queued import execute_queued

            execution = execute_queued(
                plan,
                specs,
                app,
                seed=options.seed,
                keep_evidence=options.keep_evidence,
                conformance=conformance,
                needs=needs,
                observer=_ConsoleObserver(err, plan),
                say=lambda text: err.print(escape(text), soft_wrap=True),
            )
        else:
            execution = execute(
                plan,
                specs,
                bench,
                out_dir,
                jobs=options.jobs,
                seed=options.seed,
                keep_evidence=options.keep_evidence,
                observer=_ConsoleObserver(err, plan),
                conformance=conformance,
            )
    finally:
        signal.signal(signal.SIGTERM, old)
    q = assess(
        plan,
        specs,
        execution.runs,
        variants,
        incomplete_reason=execution.incomplete_reason,
        all_variants=dict(simulator.variants),
        seed=options.seed,
    )
    prune_evidence(q, out_dir, keep_all=options.keep_evidence)
    meta.update(ended=_now(), seconds=round(time.monotonic() - clock, 1))
    write_qualification(out_dir, q, meta)
    _print_summary(out, q, out_dir)
    return q.exit_code


def _print_summary(out: Console, q: Qualification, out_dir: Path) -> None:
    crit = Table(title=f"{q.plan.profile_id} {q.plan.version}: qualification criteria")
    crit.add_column("#")
    crit.add_column("criterion")
    crit.add_column("result")
    crit.add_column("explanation")
    for i, c in enumerate(q.criteria, 1):
        result = "[bold green]holds[/]" if c.passed else "[bold red]FAILS[/]"
        crit.add_row(str(i), c.key, result, escape(c.explanation))
    out.print(crit)
    for c in q.criteria:
        for line in c.details[:20] if not c.passed else ():
            out.print(f"  [red]{c.key}[/]: {escape(line)}", soft_wrap=True)
    tally: dict[str, list[str]] = {}
    for o in q.outcomes:
        tally.setdefault(o.verdict.value, []).append(o.variant.name)
    for verdict, names in tally.items():
        shown = ", ".join(names) if verdict != VariantVerdict.CAUGHT.value else ""
        out.print(f"variants {verdict}: {len(names)}" + (f" ({shown})" if shown else ""))
    if q.requirements_without_variant:
        out.print(
            "requirements without a faulty variant (informational): "
            + ", ".join(q.requirements_without_variant)
        )
    for note in q.notes:
        out.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    out.print(f"report: {out_dir / HTML_NAME}  json: {out_dir / JSON_NAME}")
    if q.verdict == "QUALIFIED":
        out.print("[bold green]QUALIFIED[/]: every criterion holds")
    elif q.verdict == "INCOMPLETE":
        out.print(f"[bold magenta]INCOMPLETE[/]: {escape(q.incomplete_reason or '')}")
    else:
        failed = [c.key for c in q.criteria if not c.passed]
        out.print(f"[bold red]NOT QUALIFIED[/]: {', '.join(failed)} failed")

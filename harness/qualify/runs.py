"""Carrying out the runs of a tool qualification (see :mod:`harness.qualify`).

The simulated runs (the reference simulator ``--runs`` times, then every faulty variant once)
go first, in a pool of worker processes: each run is independent and deterministic, so the
pool only changes how long they take, never what they record; results are reported in the
order of the run list, not the order they finished. The real-time reference runs follow, one
at a time and with nothing else running beside them, because they judge real timing
(python-can buses, a real MQTT broker): each certifies the simulator running in a process of
its own, as ``--dut external``, the way a supplier's part would be
(:mod:`harness.qualify.simproc`), so that it does not share the harness's interpreter lock.

Evidence: a real-time run always writes its evidence folder under ``<out>/runs/<run name>/``
and :func:`prune_evidence` removes it afterwards if the run behaved; simulated runs write one
only when every folder is to be kept (``keep_evidence``), because each of them replays
exactly with ``harness certify --dut sim[:VARIANT] --seed N`` (and writing evidence doubles
their time).

Ctrl-C (or SIGTERM, when the caller turns it into :class:`~harness.errors.RunAborted`) stops
the qualification: the runs already finished are kept, a real-time run in progress is closed
as ABORTED, and the execution says why it is incomplete. Worker processes ignore SIGINT, so a
Ctrl-C at the terminal reaches only this process, which lets the few running simulated runs
finish (about a second) and cancels the rest.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from harness.bench import Bench
from harness.conformance import Conformance, conformance_for
from harness.dut import DEFAULT_DUT
from harness.errors import InputError, RunAborted
from harness.plan import Plan
from harness.profile.compile import load_profile
from harness.qualify import (
    Qualification,
    QualificationRun,
    RunSpec,
    VariantVerdict,
)
from harness.qualify.options import MAX_DEFAULT_JOBS
from harness.qualify.simproc import SimProcessLane
from harness.record import CaseRecord, RunStatus, Verdict
from harness.runner import RunObserver
from harness.session import DutChoice, Session

__all__ = [
    "MAX_DEFAULT_JOBS",
    "Execution",
    "QualifyObserver",
    "QualifyOptions",
    "default_jobs",
    "execute",
    "plan_specs",
    "prune_evidence",
]


def default_jobs() -> int:
    """One worker per CPU, at most :data:`MAX_DEFAULT_JOBS`."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_JOBS))


@dataclass(frozen=True)
class QualifyOptions:
    """How many runs of which kind, and how to carry them out."""

    runs: int = 10  # simulated reference runs
    realtime_runs: int = 3  # real-time reference runs
    variants: tuple[str, ...] = ()  # the variants to run, in order
    jobs: int = 1  # worker processes for the simulated runs
    keep_evidence: bool = False  # keep every run's evidence, not only misbehaving ones'
    seed: int | None = None  # run seed of fuzz steps without their own, the same for every run
    dut: str = DEFAULT_DUT  # the simulated DUT (provider) whose reference and variants run


def plan_specs(options: QualifyOptions) -> list[RunSpec]:
    """The runs in report order: simulated reference, real-time reference, variants."""
    width = len(str(options.runs))
    dut = options.dut
    sims = [
        RunSpec(f"reference-simulated-{i:0{width}d}", "reference", dut=dut)
        for i in range(1, options.runs + 1)
    ]
    rts = [
        RunSpec(f"reference-realtime-{i}", "reference", realtime=True, dut=dut)
        for i in range(1, options.realtime_runs + 1)
    ]
    variants = [RunSpec(f"variant-{v}", "variant", variant=v, dut=dut) for v in options.variants]
    return [*sims, *rts, *variants]


class QualifyObserver:
    """Progress callbacks; every method is optional to override. Called in this process."""

    def run_started(self, spec: RunSpec, done: int, total: int) -> None:
        """A run starts (simulated runs: when handed to the pool)."""

    def run_finished(self, run: QualificationRun, done: int, total: int) -> None:
        """A run finished; ``done`` counts the finished runs including this one."""

    def case_finished(self, spec: RunSpec, record: CaseRecord) -> None:
        """A case of a real-time run finished (simulated runs report whole runs only)."""


@dataclass
class Execution:
    """The runs carried out, in report order, and why the execution stopped early if it did."""

    runs: list[QualificationRun]
    incomplete_reason: str | None = None


# -- one run ---------------------------------------------------------------------------------
def run_one(
    plan: Plan,
    bench: Bench,
    spec: RunSpec,
    evidence: Path | None,
    observers: Sequence[RunObserver] = (),
    *,
    seed: int | None = None,
    conformance: Conformance | None = None,
) -> QualificationRun:
    """Carry out one run; a run that fails to start or stops is INCOMPLETE in its record.
    ``conformance`` is the part's statement for every run (None: the bench's, if any).

    Interrupts (KeyboardInterrupt, RunAborted) end the run as ABORTED and are not re-raised:
    the caller sees the status and stops.
    """
    lane: SimProcessLane | None = None
    if spec.realtime:  # the simulator in its own process, certified as an external part
        lane = SimProcessLane(plan, bench, spec.variant, dut=spec.dut)
        bench = lane.bench
    dut = DutChoice("external") if lane is not None else DutChoice("sim", spec.variant, spec.dut)
    session = Session(
        plan,
        bench,
        dut,
        realtime=spec.realtime,
        out_dir=evidence,
        observers=observers,
        seed=seed,
        conformance=conformance,
    )
    start = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            if lane is not None:
                stack.enter_context(lane.hosting(session))
            with session:
                session.run_all()
    except (KeyboardInterrupt, Exception) as exc:  # the record says how the run ended, and why
        if session.record.status is RunStatus.RUNNING:  # the simulator never came up
            if evidence is not None:
                evidence.mkdir(parents=True, exist_ok=True)
            session.finish(exc)
    return QualificationRun(
        spec, session.record, time.perf_counter() - start, str(evidence) if evidence else None
    )


@dataclass(frozen=True)
class _Job:
    """What a worker process needs for one simulated run (picklable)."""

    spec: RunSpec
    profile: str
    digest: str
    evidence: str | None
    seed: int | None
    conformance: Conformance | None = None


_PLANS: dict[tuple[str, str], Plan] = {}  # per worker process: the profile, compiled once


def _worker_plan(path: str, digest: str) -> Plan:
    plan = _PLANS.get((path, digest))
    if plan is None:
        plan = load_profile(path)
        if plan.digest != digest:
            raise InputError(
                f"{path} changed while the qualification ran",
                expected=f"sha256 {digest}",
                got=plan.digest,
            )
        _PLANS[(path, digest)] = plan
    return plan


def _run_job(job: _Job) -> QualificationRun:
    plan = _worker_plan(job.profile, job.digest)
    evidence = Path(job.evidence) if job.evidence else None
    return run_one(plan, Bench(), job.spec, evidence, seed=job.seed, conformance=job.conformance)


def _worker_init() -> None:
    # Ctrl-C at the terminal signals the whole process group: the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


class _CaseRelay(RunObserver):
    def __init__(self, observer: QualifyObserver, spec: RunSpec) -> None:
        self.observer = observer
        self.spec = spec

    def case_finished(self, record: CaseRecord) -> None:
        self.observer.case_finished(self.spec, record)


# -- the whole execution ---------------------------------------------------------------------
class _Progress:
    def __init__(self, observer: QualifyObserver, total: int) -> None:
        self.observer = observer
        self.total = total
        self.done: dict[str, QualificationRun] = {}

    def started(self, spec: RunSpec) -> None:
        self.observer.run_started(spec, len(self.done), self.total)

    def finished(self, run: QualificationRun) -> None:
        self.done[run.spec.name] = run
        self.observer.run_finished(run, len(self.done), self.total)


def execute(
    plan: Plan,
    specs: Sequence[RunSpec],
    bench: Bench,
    out_dir: Path,
    *,
    jobs: int = 1,
    seed: int | None = None,
    keep_evidence: bool = False,
    observer: QualifyObserver | None = None,
    conformance: Conformance | None = None,
) -> Execution:
    """Carry out ``specs``: simulated ones in ``jobs`` processes, then real-time ones here.

    ``bench`` is the real-time runs' bench; simulated runs always use the in-memory bus and
    broker. Evidence goes to ``out_dir/runs/<name>/`` (simulated runs: only with
    ``keep_evidence``). Every run gets the same ``seed``
    for its fuzz steps that name none (None: each run draws its own, and so may differ).
    ``conformance`` (the part's statement: ``--ics``, else the bench's) applies to every run.
    """
    if conformance is None:
        conformance = conformance_for(
            plan.profile.features, plan.profile_id, bench.conformance, bench.source, None
        )
    progress = _Progress(observer or QualifyObserver(), len(specs))
    root = out_dir / "runs"
    simulated = [s for s in specs if not s.realtime]
    realtime = [s for s in specs if s.realtime]
    reason: str | None = None
    try:
        sim_root = root if keep_evidence else None
        reason = _simulated_phase(plan, simulated, sim_root, jobs, seed, progress, conformance)
        for spec in realtime if reason is None else ():
            progress.started(spec)
            relay = _CaseRelay(progress.observer, spec)
            run = run_one(
                plan, bench, spec, root / spec.name, [relay], seed=seed, conformance=conformance
            )
            progress.finished(run)
            if run.record.status is RunStatus.ABORTED:
                reason = f"interrupted during {spec.name}"
                break
    except (KeyboardInterrupt, RunAborted):
        reason = "interrupted by the user or a signal"
    runs = [progress.done[s.name] for s in specs if s.name in progress.done]
    return Execution(runs, reason)


def _simulated_phase(
    plan: Plan,
    specs: Sequence[RunSpec],
    root: Path | None,
    jobs: int,
    seed: int | None,
    progress: _Progress,
    conformance: Conformance | None = None,
) -> str | None:
    """Run ``specs`` (simulated, evidence under ``root`` if given); the reason the phase
    stopped early, or None."""
    profile = str(Path(plan.path).resolve())
    job_list = [
        _Job(spec, profile, plan.digest, str(root / spec.name) if root else None, seed, conformance)
        for spec in specs
    ]
    workers = min(jobs, len(job_list))
    if workers <= 1:
        for job in job_list:
            progress.started(job.spec)
            evidence = Path(job.evidence) if job.evidence else None
            run = run_one(plan, Bench(), job.spec, evidence, seed=seed, conformance=conformance)
            progress.finished(run)
            if run.record.status is RunStatus.ABORTED:
                return f"interrupted during {job.spec.name}"
        return None
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    # Block SIGINT while the workers start, so that they inherit a mask that keeps Ctrl-C
    # from killing them before their initializer ignores it.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init)
    futures: dict[Future[QualificationRun], _Job] = {}
    reason: str | None = None
    try:
        try:
            for job in job_list:
                futures[pool.submit(_run_job, job)] = job
                progress.started(job.spec)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for future in as_completed(futures):
            job = futures[future]
            try:
                progress.finished(future.result())
            except BrokenProcessPool as exc:
                return f"a worker process died during {job.spec.name}: {exc}"
            except Exception as exc:
                reason = reason or f"{job.spec.name} could not run: {exc}"
    except (KeyboardInterrupt, RunAborted):
        pool.shutdown(wait=True, cancel_futures=True)
        for future, job in futures.items():
            finished = future.done() and not future.cancelled() and future.exception() is None
            if finished and job.spec.name not in progress.done:
                progress.finished(future.result())
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return reason


# -- evidence ---------------------------------------------------------------------------------
def misbehaving_runs(q: Qualification) -> set[str]:
    """Names of the runs whose evidence a reviewer needs: those that did not behave.

    A reference run that did not complete or did not pass every case; every reference run
    when their verdicts differ, every simulated one when their records differ; a variant
    not caught cleanly (out of scope and clean is fine); an aborted run.
    """
    failed = {c.key for c in q.criteria if not c.passed}
    names: set[str] = set()
    for run in q.runs:
        rec = run.record
        if rec.status is not RunStatus.COMPLETED:
            names.add(run.spec.name)
        elif run.spec.kind == "reference":
            if any(c.verdict not in (Verdict.PASS, Verdict.NOT_APPLICABLE) for c in rec.cases):
                names.add(run.spec.name)
            if "no-flaky-verdicts" in failed:
                names.add(run.spec.name)
            if "simulated-deterministic" in failed and not run.spec.realtime:
                names.add(run.spec.name)
    fine = {VariantVerdict.CAUGHT, VariantVerdict.OUT_OF_SCOPE}
    names.update(f"variant-{o.variant.name}" for o in q.outcomes if o.verdict not in fine)
    return names


def prune_evidence(q: Qualification, out_dir: Path, *, keep_all: bool) -> None:
    """Remove the evidence folders of runs that behaved (all are kept with ``keep_all``),
    and update the runs' ``evidence`` to what is left. A run carried out by a queue worker
    keeps its evidence where it is, on that worker's bench, and its path in the report."""
    keep = {r.spec.name for r in q.runs} if keep_all else misbehaving_runs(q)
    root = out_dir / "runs"
    runs = []
    for run in q.runs:
        folder = root / run.spec.name
        if run.spec.name in keep or run.worker is not None:
            runs.append(run)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        runs.append(replace(run, evidence=None))
    q.runs = runs
    for spec in q.specs:  # a run cancelled before it started may have left an empty folder
        folder = root / spec.name
        if spec.name not in keep and folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()

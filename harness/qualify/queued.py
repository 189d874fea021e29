"""A qualification's runs spread over the bench workers of ``harness queue`` (``--queue``).

Each run of :func:`harness.qualify.runs.plan_specs` becomes one queued job of kind
``qualify`` (:class:`QueuedRun`) on the same Celery queues, one per capability set, that
``harness queue submit`` uses: the simulated runs need nothing of a bench (any worker takes
them), a real-time run needs what the profile's bus needs (CAN FD when it is FD) and what
``--needs`` adds. The worker that takes a job runs it exactly as the local path does
(:func:`run_queued`, through :func:`harness.qualify.runs.run_one`: the simulated DUT on the
in-memory bus for a simulated run, the simulator in a process of its own on the worker's
bench for a real-time one) and returns the whole run record through the result backend; this
process rebuilds the records and judges them like local runs. The fuzz run seed and the
part's conformance statement travel with every job, so a run gives the same verdicts on any
bench as here.

Order as in the local path: the simulated runs first (all queued at once, as many at a time
as there are free workers), then the real-time runs, each on a bench that meets its needs,
one at a time per bench unless its worker was started with a ``--concurrency`` above 1.

Delivery is the queue's (:mod:`harness.queue.app`): acknowledged late, so a worker that dies
mid-run puts its job back on its queue and another attempt runs it from the start; the dead
attempt never reports, so it is never counted, let alone as a pass. A job a bench refuses
(its profile differs from the one pinned, a needs mismatch, a harness without this job kind)
is a run that could not be carried out: the qualification is INCOMPLETE. Ctrl-C (or SIGTERM)
stops waiting; the jobs not finished are revoked (best effort: Celery's revocations live in
the workers up at that moment, and a run already on a bench finishes there, its result
unused) and count as not run.

Evidence stays on the bench that ran a run, under its worker's evidence root
(``<root>/<request id>/<bench>-<attempt>``), and the report names it: a real-time run always
writes it, a simulated run only with ``--keep-evidence``.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.bench import Bench
from harness.conformance import Conformance
from harness.errors import HarnessError, InputError, RunAborted
from harness.qualify.model import QualificationRun, RunSpec
from harness.qualify.runs import Execution, QualifyObserver, _worker_plan, run_one
from harness.queue.app import TASK_NAME, check_broker, make_app
from harness.queue.model import Needs, queue_for
from harness.runjson import record_from_json

if TYPE_CHECKING:
    from celery import Celery

    from harness.plan import Plan
    from harness.queue.execute import Station

__all__ = [
    "QUALIFY_JOB",
    "QueuedRun",
    "connect",
    "execute_queued",
    "realtime_needs",
    "run_queued",
]

QUALIFY_JOB = "qualify"  # the job kind (harness.queue.app.JOBS, entry point in pyproject.toml)
POLL = 0.2  # seconds between looks at the results of the runs still out
QUIET = 30.0  # seconds after which runs nobody took are named (is a bench serving the queue?)


@dataclass(frozen=True)
class QueuedRun:
    """One qualification run as a queued job: the run, the profile pinned by its sha256,
    the shared fuzz seed, the part's statement, and what it needs of a bench."""

    spec: RunSpec
    profile: str
    digest: str
    seed: int | None = None
    conformance: Conformance | None = None  # None: no statement (a bench's own is not used)
    keep_evidence: bool = False
    needs: Needs = field(default_factory=Needs)
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> dict[str, Any]:
        """The message: its kind and id on top, the run under ``qualify`` (so that a worker
        of a harness without this job kind fails on it, rather than taking it for a
        certification run)."""
        s = self.spec
        job = {
            "run": {
                "name": s.name,
                "kind": s.kind,
                "realtime": s.realtime,
                "variant": s.variant,
                "dut": s.dut,
            },
            "profile": self.profile,
            "digest": self.digest,
            "seed": self.seed,
            "conformance": None if self.conformance is None else self.conformance.to_json(),
            "keep_evidence": self.keep_evidence,
            "needs": self.needs.to_json(),
        }
        return {"kind": QUALIFY_JOB, "request_id": self.request_id, QUALIFY_JOB: job}

    @classmethod
    def from_json(cls, message: dict[str, Any]) -> QueuedRun:
        data = message[QUALIFY_JOB]
        run = data["run"]
        variant, seed, statement = run.get("variant"), data.get("seed"), data.get("conformance")
        spec = RunSpec(
            name=str(run["name"]),
            kind=str(run["kind"]),
            realtime=bool(run["realtime"]),
            variant=None if variant is None else str(variant),
            dut=str(run["dut"]),
        )
        conformance = None
        if statement is not None:
            features = {str(k): bool(v) for k, v in statement["features"].items()}
            conformance = Conformance(str(statement["source"]), features)
        return cls(
            spec=spec,
            profile=str(data["profile"]),
            digest=str(data["digest"]),
            seed=None if seed is None else int(seed),
            conformance=conformance,
            keep_evidence=bool(data.get("keep_evidence", False)),
            needs=Needs.from_json(data["needs"]),
            request_id=str(message["request_id"]),
        )


def realtime_needs(plan: Plan, spec: str | None) -> Needs:
    """What a real-time run needs of a bench: ``spec`` (``--needs``), and CAN FD whenever the
    profile's bus is FD."""
    needs = Needs.parse(spec)
    return Needs(needs.interface, needs.fd or plan.fd, needs.buses)


# -- the worker's side -----------------------------------------------------------------------
def run_queued(request: dict[str, Any], station: Station) -> dict[str, Any]:
    """Carry out one qualification run on this bench (the handler of job kind ``qualify``);
    the outcome with the whole run record as JSON, or REFUSED with the reason."""
    outcome: dict[str, Any] = {
        "kind": QUALIFY_JOB,
        "request_id": request.get("request_id"),
        "bench": station.describe(),
        "pid": os.getpid(),
    }
    try:
        job = QueuedRun.from_json(request)
        outcome["run"] = job.spec.name
        if not station.caps.meets(job.needs):
            raise InputError(
                f"bench {station.name} ({station.caps.describe()}) does not meet the run's "
                f"needs {job.needs.to_json()}"
            )
        plan = _worker_plan(job.profile, job.digest)
    except (HarnessError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return {**outcome, "status": "REFUSED", "passed": False, "error": str(exc)}
    spec = job.spec
    # A simulated run uses the in-memory bus and broker, as at home; a real-time one this
    # bench, without a statement of its own: the part's statement came with the job.
    bench = station.bench.model_copy(update={"conformance": None}) if spec.realtime else Bench()
    evidence: Path | None = None
    if spec.realtime or job.keep_evidence:
        folder = f"{re.sub(r'[^A-Za-z0-9._-]+', '-', station.name)}-{uuid.uuid4().hex[:8]}"
        evidence = station.evidence / job.request_id / folder
    try:
        run = run_one(plan, bench, spec, evidence, seed=job.seed, conformance=job.conformance)
    except HarnessError as exc:  # the bench itself is unusable (a key it cannot read, ...)
        return {**outcome, "status": "REFUSED", "passed": False, "error": str(exc)}
    record = run.record
    return {
        **outcome,
        "status": record.status.value,
        "passed": record.passed,
        "error": record.error,
        "record": record.to_json(),
        "seconds": round(run.seconds, 3),
        "evidence": run.evidence,
    }


# -- this side: queue the runs, wait for them --------------------------------------------------
def connect(broker: str) -> Celery:
    """The Celery app on ``broker``, checked reachable (InterfaceError, exit 3, if not)."""
    app = make_app(broker)
    check_broker(app, broker)
    return app


class _Phase:
    """Runs queued together and waited for; their finished runs go to ``done``."""

    def __init__(
        self,
        app: Celery,
        jobs: Sequence[QueuedRun],
        observer: QualifyObserver,
        done: dict[str, QualificationRun],
        total: int,
        say: Callable[[str], None],
    ) -> None:
        self.app, self.observer, self.done, self.total, self.say = app, observer, done, total, say
        self.pending = {job.request_id: job for job in jobs}
        self.seen: dict[str, object] = {}  # request id -> the pid of its attempt on a bench
        self.reason: str | None = None

    def run(self) -> str | None:
        for job in self.pending.values():
            self.app.send_task(
                TASK_NAME,
                args=[job.to_json()],
                queue=queue_for(job.needs),
                task_id=job.request_id,
            )
        began, warned = time.monotonic(), False
        while self.pending:
            for request_id in list(self.pending):
                self._look(request_id)
            if not warned and self.pending and time.monotonic() - began > QUIET:
                warned = self._name_the_waiting()
            time.sleep(POLL)
        return self.reason

    def revoke(self) -> None:
        """Best effort: workers drop the jobs not taken yet."""
        if self.pending:
            try:
                self.app.control.revoke(list(self.pending))
            except Exception as exc:  # the broker went away: nothing more to do about it
                self.say(f"could not revoke the {len(self.pending)} runs still queued: {exc}")

    def _look(self, request_id: str) -> None:
        job = self.pending[request_id]
        result = self.app.AsyncResult(request_id)
        state = result.state
        if state == "STARTED":
            info = result.info if isinstance(result.info, dict) else {}
            pid = info.get("pid")
            if request_id not in self.seen:
                self.observer.run_started(job.spec, len(self.done), self.total)
            elif self.seen[request_id] != pid:
                self.say(
                    f"{job.spec.name} started again ({info.get('hostname')}, pid {pid}): the "
                    "worker that had it died and its job went back to the queue"
                )
            self.seen[request_id] = pid
        elif state == "SUCCESS":
            del self.pending[request_id]
            self._finished(job, result.result)
        elif state in ("FAILURE", "REVOKED"):
            del self.pending[request_id]
            self.reason = self.reason or f"{job.spec.name} could not run: {state}: {result.result}"

    def _finished(self, job: QueuedRun, outcome: Any) -> None:
        name = job.spec.name
        bench = outcome.get("bench", {}) if isinstance(outcome, dict) else {}
        worker = f"{bench.get('name')}@{bench.get('host')}"
        if not isinstance(outcome, dict) or not isinstance(outcome.get("record"), dict):
            error = outcome.get("error") if isinstance(outcome, dict) else repr(outcome)
            self.reason = self.reason or f"{name} could not run on {worker}: {error}"
            return
        try:
            record = record_from_json(outcome["record"], f"the record of {name} from {worker}")
        except InputError as exc:
            self.reason = self.reason or f"{name}: {exc}"
            return
        seconds = float(outcome.get("seconds") or 0.0)
        evidence = outcome.get("evidence")
        run = QualificationRun(job.spec, record, seconds, evidence, worker=worker)
        self.done[name] = run
        self.observer.run_finished(run, len(self.done), self.total)

    def _name_the_waiting(self) -> bool:
        waiting: dict[str, int] = {}
        for request_id, job in self.pending.items():
            if request_id not in self.seen:
                queue = queue_for(job.needs)
                waiting[queue] = waiting.get(queue, 0) + 1
        for queue, n in waiting.items():
            self.say(f"{n} run(s) still waiting on queue {queue}: is a bench that meets it up?")
        return bool(waiting)


def execute_queued(
    plan: Plan,
    specs: Sequence[RunSpec],
    app: Celery,
    *,
    seed: int | None = None,
    keep_evidence: bool = False,
    conformance: Conformance | None = None,
    needs: Needs | None = None,
    observer: QualifyObserver | None = None,
    say: Callable[[str], None] = lambda text: None,
) -> Execution:
    """Carry out ``specs`` on the queue workers of ``app``: the simulated runs first, then
    the real-time ones (needing ``needs``, default: what the profile's bus needs); the same
    :class:`~harness.qualify.runs.Execution` as the local path, in report order."""
    observer = observer or QualifyObserver()
    rt_needs = needs if needs is not None else realtime_needs(plan, None)
    profile = str(Path(plan.path).resolve())

    def job(spec: RunSpec) -> QueuedRun:
        wanted = rt_needs if spec.realtime else Needs()
        return QueuedRun(spec, profile, plan.digest, seed, conformance, keep_evidence, wanted)

    done: dict[str, QualificationRun] = {}
    reason: str | None = None
    phase: _Phase | None = None
    try:
        for group in ([s for s in specs if not s.realtime], [s for s in specs if s.realtime]):
            if group and reason is None:
                phase = _Phase(app, [job(s) for s in group], observer, done, len(specs), say)
                reason = phase.run()
    except (KeyboardInterrupt, RunAborted):
        reason = "interrupted by the user or a signal"
        if phase is not None:
            phase.revoke()
    return Execution([done[s.name] for s in specs if s.name in done], reason)

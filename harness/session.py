"""A certification session: the bus, the clock, the DUT, the evidence, and the cases.

:class:`Session` is the context manager that owns every resource of one run. It picks the mode:
*simulated* (a registered simulated DUT, see :mod:`harness.dut`, on the harness's virtual clock
and in-memory bus, the default) or *real time* (``--realtime``, and always with an external
DUT: python-can buses, interface timestamps). It writes the evidence folder as it goes:
``trace.blf`` (every frame, flushed every 250 ms) and ``run.json`` (rewritten atomically after
every case), so an interrupted run leaves readable evidence marked ABORTED or INCOMPLETE. It
also keeps the profile and DBC as loaded, and seals the folder with ``manifest.json`` when it
closes (see :mod:`harness.evidence`). Diagnostic exchanges go to ``diag.jsonl`` as well, and
the DUT's identity (the profile's identity DIDs) is read right after it is up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.bench import Bench, with_fd
from harness.can.ingest import ThreadedBus
from harness.can.restbus import RestBus
from harness.clock import (
    EventLoop,
    RealClock,
    VirtualClock,
    freeze_collector,
    short_switch_interval,
)
from harness.conformance import Conformance, conformance_for
from harness.dut import DutSetup, RunningDut
from harness.errors import HarnessError, InputError, RunAborted, RunIncomplete
from harness.evidence import (
    FLUSH_INTERVAL,
    TraceWriter,
    copy_inputs,
    write_json_atomic,
    write_manifest,
)
from harness.fuzz import FuzzContext
from harness.identity import GivenIdentity, given_identity, subject_field
from harness.observe import FrameLog
from harness.operator import Operator, OperatorAdapter, PromptLog
from harness.outputs import claim_folder
from harness.plan import Plan, PlannedCase
from harness.profile.compile_diag import identity_fields
from harness.record import CaseRecord, RunRecord, RunStatus, Verdict
from harness.run_outputs import Output, RunEnd, RunStart
from harness.runner import CaseRunner, RunObserver
from harness.session_buses import live_configs, open_live_buses, open_sim_buses
from harness.session_machine import timing_critical
from harness.session_mqtt import mqtt_plan, open_mqtt, require_external_broker
from harness.sim.choice import DutChoice, sim_addressing
from harness.sim.host import SimThread
from harness.trace import BackgroundWriter
from harness.uds.steps import open_diagnostics

__all__ = ["DutChoice", "Session", "harness_version"]


SPILL_PERIOD = 10.0  # seconds of bus time between two looks for long observation columns


def harness_version() -> str:
    try:
        return metadata.version("cc-harness")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Session:
    """One run of one plan against one DUT. Use as a context manager."""

    def __init__(
        self,
        plan: Plan,
        bench: Bench,
        dut: DutChoice,
        *,
        realtime: bool = False,
        out_dir: Path | None = None,
        observers: Sequence[RunObserver] = (),
        seed: int | None = None,
        operator: Operator | None = None,
        identity: GivenIdentity | None = None,
        conformance: Conformance | None = None,
        outputs: Sequence[Output] = (),
    ) -> None:
        self.plan = plan
        # Which optional features the part has (harness.conformance): --ics, else the bench.
        self.conformance = conformance or conformance_for(
            plan.profile.features, plan.profile_id, bench.conformance, bench.source, None
        )
        # Identity items without a DID: from the bench and --identity (harness.identity).
        self.given_identity = identity or given_identity(
            identity_fields(plan.profile), bench.dut.identity, {}
        )
        self.dut = dut
        self.fuzz = FuzzContext(seed)  # the run seed of fuzz steps without their own
        self.simulated = dut.kind == "sim" and not realtime
        self.bench = bench if self.simulated else with_fd(bench.with_channel_default(), plan)
        # real time: the interface of every named bus (harness.session_buses); a bench that
        # maps buses the profile lacks, or misses one, is an error before anything is written
        first = plan.bus_list()[0].name
        self.bus_configs = {first: self.bench.can}
        if not self.simulated and (bench.can_buses or len(plan.bus_list()) > 1):
            self.bus_configs = live_configs(plan, bench)
            self.bench = bench.model_copy(update={"can": self.bus_configs[first]})
        if dut.kind == "external":
            require_external_broker(plan, self.bench)
        self.out_dir = out_dir
        self.observers = list(observers)
        # run on every way out (harness.run_outputs): reports, certificate, console
        self.outputs = list(outputs)
        self._outputs_ended = False
        self.output_error: BaseException | None = None  # the first an output raised
        self.operator = operator  # answers prompt steps (harness.operator)
        self.log = FrameLog()
        self.run_id = uuid.uuid4().hex
        self._stack = contextlib.ExitStack()
        self.claimed = False  # whether out_dir is this run's (claimed atomically on entry)
        self._kept_at = float("-inf")  # when run.json last took a finished case (monotonic)
        self._written: tuple[bool, str] | None = None  # what run.json holds (see _write_record)
        self._background: BackgroundWriter | None = None  # run.json after a case, simulated
        self.trace: TraceWriter | None = None
        self.sim_dut: RunningDut | None = None  # a simulated part on the session's loop
        self.tcu: Any = None  # that part itself (a ReferenceTcu for cc-tcu-1), for lab tests
        self.sim_thread: SimThread | None = None
        # round robin for this process's threads too (realtime.priority): only where the part
        # runs in a process of its own raised above them (qualify's lanes); a part beside the
        # harness at ordinary priority (a supplier's program, a simulator thread here) would
        # lose its timing to a round-robin harness (measured: the relay's 50 ms cycle at 64 ms)
        self.harness_round_robin = False
        self.ingest: ThreadedBus | None = None  # live runs: the bus's reader thread
        self.record = RunRecord(
            run_id=self.run_id,
            profile_id=plan.profile_id,
            profile_version=plan.version,
            profile_digest=plan.digest,
            dbc_digest=plan.dbc_digest,
            harness_version=harness_version(),
            mode="simulated" if self.simulated else "realtime",
            dut=str(dut),
            bench=self._bench_description(),
            started_wall=_now_iso(),
            seed=self.fuzz.run_seed,
            conformance=None if self.conformance is None else self.conformance.to_json(),
            # a real-time run: what raised its processes (harness.rtpriority), filled on entry
            priority=None if self.simulated else {"setting": bench.realtime.priority},
        )

    def _bench_description(self) -> dict[str, Any]:
        if self.simulated:
            return {"name": "simulated", "can": {"interface": "harness_sim", "channel": None}}
        if len(self.bus_configs) > 1:  # every named bus as opened
            return self.bench.model_copy(update={"can_buses": self.bus_configs}).describe()
        return self.bench.describe()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Session:
        try:
            start = RunStart(self.plan, self.record, self.out_dir)
            for output in self.outputs:
                output.run_started(start)
            self._open()
        except BaseException as exc:
            self.finish(exc)
            try:
                self._stack.close()
            finally:
                self._end_outputs(exc)
            raise
        return self

    def _open(self) -> None:
        stack = self._stack
        clock: VirtualClock | RealClock
        if self.out_dir is not None:
            claim_folder(self.out_dir, self._record_bytes())  # before anything is written
            self.claimed = True
            copy_inputs(self.out_dir, self.plan)
            # Closing the stack runs these last, after the trace is closed (on every way out,
            # a failed start included): the final record, then the manifest that seals it.
            stack.callback(write_manifest, self.out_dir)
            stack.callback(self._write_record)
            self.trace = stack.enter_context(TraceWriter(self.out_dir / "trace.blf"))
            self._write_record()
            if self.simulated:  # closed (every write done) before the final record
                self._background = BackgroundWriter()
                stack.callback(self._background.close)
        if self.simulated:
            # What exists now (modules, the plan, its DBC) lives through the run: the
            # collector's full passes during a simulated run (which allocates fast) need not
            # walk it again each time. Unfrozen when the session closes.
            gc.freeze()
            stack.callback(gc.unfreeze)
            clock = VirtualClock()
            buses = open_sim_buses(self.plan, self.run_id, clock, stack)
            self.loop = EventLoop(clock)
            self.mqtt = open_mqtt(self.loop, self.plan, self.bench, self.out_dir, stack)
            mplan = mqtt_plan(self.plan)
            setup = DutSetup(
                self.loop,
                buses.dut[buses.first],
                self.plan.dbc,
                self.bench,
                self.dut.variant,
                mqtt_transport=self.mqtt.dut_transport if self.mqtt is not None else None,
                psk=self.bench.mqtt.resolve_psk() if self.mqtt is not None else b"",
                asn1=mplan.asn1 if mplan is not None else None,
                diag=sim_addressing(self.plan),
                buses=dict(buses.dut),
                dbs={b.name: b.dbc for b in self.plan.bus_list()},
            )
            self.sim_dut = self.dut.simulator.build(setup)
            stack.callback(self.sim_dut.stop)
            self.tcu = self.sim_dut.part
        else:
            # timing-critical: this process ahead of ordinary ones, where the OS permits,
            # before its threads start (they inherit it); a simulator thread here too
            assert self.record.priority is not None
            applied = timing_critical(self.bench, stack, self.harness_round_robin)
            self.record.priority.update(applied)
            clock = RealClock()
            buses = open_live_buses(self.bus_configs, stack)
            self.buses = buses  # before anything can fail: run.json's receive block reads it
            self.ingest = buses.ingests[buses.first]
            self.loop = EventLoop(clock)
            self.mqtt = open_mqtt(self.loop, self.plan, self.bench, self.out_dir, stack)
            embedded = self.mqtt.embedded if self.mqtt is not None else None
            if embedded is not None and embedded.priority_applied is not None:
                self.record.priority["broker"] = embedded.priority_applied
            if self.dut.kind == "sim":
                broker = self.mqtt.dut_address if self.mqtt is not None else None
                self.sim_thread = stack.enter_context(
                    SimThread(
                        self.dut.simulator,
                        self.bench,
                        self.plan.dbc,
                        self.dut.variant,
                        mqtt=broker,
                        diag=sim_addressing(self.plan),
                        # a part on several buses gets its end of each (the same configs)
                        buses=self.bus_configs if len(self.bus_configs) > 1 else None,
                        dbs={b.name: b.dbc for b in self.plan.bus_list()},
                    )
                )
        self.buses = buses
        # one port per named bus, each with its own frame log; the first is the run's `can`
        self.ports = buses.ports(self.loop, self.plan, self.log, self.trace)
        self.port = self.ports[buses.first]
        if self.trace is not None:  # quiet stretches of a real-time run still flush on time
            self.loop.idle_hooks.append(self.trace.maybe_flush)
        # Long runs keep their older observations on disk (harness.spill): bounded memory.
        self._spiller = self.loop.every(SPILL_PERIOD, self._spill_large, first=SPILL_PERIOD)
        stack.callback(self._spiller.cancel)
        senders = {name: port.send for name, port in self.ports.items()}
        self.restbus = RestBus(self.loop, senders, self.plan.restbus)
        stack.callback(self.restbus.stop)
        self.runner = CaseRunner(
            self.plan,
            self.loop,
            self.port,
            self.restbus,
            [*self.observers, *self.outputs],
            fuzz=self.fuzz,
            buses=buses.runner_buses(self.ports, self.plan),
        )
        self.diag = open_diagnostics(
            self.loop,
            self.ports.get(self.plan.diag_bus, self.port),
            self.plan,
            self.out_dir,
            stack,
            self.bench.diagnostics,
        )
        self.runner.attach(self.diag)
        if len(buses.ingests) > 1:  # any bus's lost frames spoil a window
            self.runner.frame_losses = buses.losses
            self.runner.caught_up = buses.caught_up
        elif self.ingest is not None:
            self.runner.frame_losses = self.ingest.losses
            self.runner.caught_up = self.ingest.caught_up
        self.diag.fuzz = self.fuzz  # fuzz_diag steps: the run seed and the case's records
        if self.mqtt is not None:
            self.runner.attach(self.mqtt)
        self.runner.attach(OperatorAdapter(self.operator, PromptLog(self.out_dir)))
        if self.mqtt is not None:  # fuzz_command steps record into the run's fuzz context
            self.mqtt.fuzz = self.fuzz
        if self.sim_dut is not None:
            self.sim_dut.start()
        else:  # real time: no full-collection pause of ~100 ms in the run's timing, and
            # no 5 ms wait for the interpreter lock between a frame's stamp and its send
            stack.callback(freeze_collector())
            stack.callback(short_switch_interval())
        self.restbus.start()
        self.runner.wait_ready()
        if self.mqtt is not None:  # a part reaching the broker through the harness's relay
            self.mqtt.wait_for_dut()
        read = self.diag.read_identity()  # RunIncomplete if unreadable
        self._set_identity(read)

    def _set_identity(self, read: dict[str, str]) -> None:
        """The part's identity, in the profile's order: what was read from it, and for items
        without a DID what the bench or the command line gave. Never a built-in value."""
        fields = identity_fields(self.plan.profile)
        identity, sources = self.given_identity.with_read(fields, read)
        self.record.identity = identity
        self.record.identity_sources = sources
        self.record.identity_subject = subject_field(fields)
        if self.mqtt is not None:  # topics keyed by the identity (their {NAME}s)
            self.mqtt.bind_identity(identity)

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.finish(exc)
        try:
            self._stack.close()  # writes the final record and the manifest (see _open)
        finally:
            self._end_outputs(exc)
        if exc is None and self.output_error is not None:
            raise self.output_error

    def _end_outputs(self, exc: BaseException | None) -> None:
        """Every output's ``run_finished``, once, after the folder is sealed; an output that
        raises does not keep the others from running (the first error is kept)."""
        if self._outputs_ended:
            return
        self._outputs_ended = True
        end = RunEnd(
            self.plan,
            self.record,
            self.out_dir if self.claimed else None,
            self.bench,
            self.log,
            exc,
            {name: port.log for name, port in getattr(self, "ports", {}).items()},
        )
        for output in self.outputs:
            try:
                output.run_finished(end)
            except Exception as err:  # the other outputs still run
                if self.output_error is None:
                    self.output_error = (
                        err
                        if isinstance(err, HarnessError)
                        else HarnessError(
                            f"output {output.name or type(output).__name__} failed: "
                            f"{type(err).__name__}: {err}"
                        )
                    )

    # -- running -----------------------------------------------------------------------------
    def run_case(self, case: PlannedCase, index: int = 0, total: int = 1) -> CaseRecord:
        if self.sim_thread is not None and self.sim_thread.error is not None:
            raise RunIncomplete(f"the simulator thread died: {self.sim_thread.error}")
        reason = None if self.conformance is None else self.conformance.reason(case.needs)
        if reason is not None:
            record = self._not_applicable(case, reason, index, total)
        else:
            record = self.runner.run_case(case, index, total)
        return self._keep(record)

    def add_case(self, record: CaseRecord) -> CaseRecord:
        """Record a case a lab's own code ran on this session (:mod:`harness.lab`): into
        ``run.json`` now, and to every observer and output as a finished case."""
        if any(c.case_id == record.case_id for c in self.record.cases):
            raise InputError(
                f"case {record.case_id} is already in this run", expected="a new case id"
            )
        for obs in self.runner.observers:
            obs.case_finished(record)
        return self._keep(record)

    def _keep(self, record: CaseRecord) -> CaseRecord:
        self.record.cases.append(record)
        # On the virtual clock a case takes milliseconds: there the trace and run.json are
        # brought up to date at most every FLUSH_INTERVAL of wall time (what a killed run
        # may lose of its trace anyway), not after every case; the final record always is.
        # In real time, after every case as it ends.
        now = time.monotonic()
        if self.loop.clock.simulated and now - self._kept_at < FLUSH_INTERVAL:
            return record
        self._kept_at = now
        if self.trace is not None:
            self.trace.flush()
        # the final record (finish, close) is indented, and written before they return
        self._write_record(compact=True, background=True)
        return record

    def _not_applicable(self, case: PlannedCase, reason: str, index: int, total: int) -> CaseRecord:
        """The record of a case the part's conformance statement excuses: nothing is run."""
        for obs in self.observers:
            obs.case_started(case, index, total)
        now = self.loop.now()
        record = CaseRecord(
            case_id=case.case_id,
            title=case.title,
            requirements=case.requirements,
            mandatory=case.mandatory,
            verdict=Verdict.NOT_APPLICABLE,
            started=now,
            ended=now,
            not_applicable=reason,
        )
        for obs in self.observers:
            obs.case_finished(record)
        return record

    def run_all(self, cases: Sequence[PlannedCase] | None = None) -> RunRecord:
        """Run ``cases`` (default: every case of the plan) and close the record.

        A run of chosen cases records which; it is evidence for those cases, never a
        certificate for the profile.
        """
        chosen = list(self.plan.cases if cases is None else cases)
        if cases is not None and [c.case_id for c in chosen] != [
            c.case_id for c in self.plan.cases
        ]:
            self.record.selection = tuple(c.case_id for c in chosen)
        for i, case in enumerate(chosen):
            self.run_case(case, i, len(chosen))
        self.finish(None)
        return self.record

    def finish(self, exc: BaseException | None) -> None:
        """Close the record: COMPLETED, ABORTED (interrupt) or INCOMPLETE (could not run)."""
        if self.record.status is not RunStatus.RUNNING:
            return
        if exc is None:
            self.record.status = RunStatus.COMPLETED
            planned = tuple(c.case_id for c in self.plan.cases)
            ran = tuple(c.case_id for c in self.record.cases if c.case_id in planned)
            if self.record.selection is None and ran != planned:
                # the profile's cases run one by one (pytest -k, a lab's script) and not all
                # of them: evidence for those cases, never a certificate for the profile (a
                # lab's own cases, harness.lab, come on top of the profile's)
                self.record.selection = ran
        elif isinstance(exc, (KeyboardInterrupt, RunAborted)):
            self.record.status = RunStatus.ABORTED
            self.record.error = "interrupted by the user or a signal"
        else:
            self.record.status = RunStatus.INCOMPLETE
            self.record.error = str(exc) or type(exc).__name__
        self.record.ended_wall = _now_iso()
        self._write_record()

    def _spill_large(self) -> None:
        for port in self.ports.values():
            port.log.spill_large()
        if self.mqtt is not None:
            self.mqtt.log.spill_large()

    def _write_record(self, *, compact: bool = False, background: bool = False) -> None:
        """run.json as the record stands; ``background``: on the simulated run's writer
        thread (the run goes on meanwhile), else now, after whatever that thread has left."""
        if self.trace is not None and self.record.trace_origin is None:
            self.record.trace_origin = self.trace.first_timestamp
        if self.ingest is not None:  # every bus's reader (harness.session_buses)
            self.record.receive = self.buses.report()
        if self.out_dir is not None and self.claimed:  # never into a folder not ours
            data = self.record.to_json()
            # The record as it stands, in the C encoder's compact form (a fraction of the
            # indented dump's cost): the same as last written in the same form, nothing to do
            # (the final record is written when the run finishes and again when it closes).
            key = (compact, json.dumps(data, separators=(",", ":")))
            if key == self._written:
                return
            writer = self._background
            if background and writer is not None:
                writer.submit(self.out_dir / "run.json", key[1])  # the compact text itself
            else:
                if writer is not None:
                    writer.wait()  # what it has left lands first
                write_json_atomic(self.out_dir / "run.json", data, compact=compact)
            self._written = key

    def _record_bytes(self) -> bytes:
        return (json.dumps(self.record.to_json(), indent=2) + "\n").encode("utf-8")

    @property
    def bus_time(self) -> float:
        return self.loop.now()


@contextlib.contextmanager
def session(plan: Plan, bench: Bench, dut: DutChoice, **kw: Any) -> Iterator[Session]:
    with Session(plan, bench, dut, **kw) as s:
        yield s

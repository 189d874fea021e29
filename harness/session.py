"""A certification session: the bus, the clock, the DUT, the evidence, and the cases.

:class:`Session` is the context manager that owns every resource of one run. It picks the
mode: *simulated* (the built-in simulator on the harness's virtual clock and in-memory bus,
the default) or *real time* (``--realtime``, and always with an external DUT: python-can
buses, interface timestamps). It writes the evidence folder as it goes: ``trace.blf`` (every
frame, flushed every 250 ms) and ``run.json`` (rewritten atomically after every case), so an
interrupted run leaves readable evidence marked ABORTED or INCOMPLETE. It also keeps the
profile and DBC as loaded, and seals the folder with ``manifest.json`` when it closes
(see :mod:`harness.evidence`). Diagnostic exchanges go to ``diag.jsonl`` as well, and the
DUT's identity (the profile's identity DIDs) is read right after it is up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import can

from harness.bench import ECHOING_INTERFACES, Bench, open_bus
from harness.can.ingest import (
    DEFAULT_RECEIVE_BUFFER,
    ThreadedBus,
    overrun_counters,
    set_receive_buffer,
)
from harness.can.port import CanPort
from harness.can.restbus import RestBus
from harness.can.simbus import SimBus
from harness.clock import EventLoop, RealClock, VirtualClock
from harness.errors import HarnessError, InputError, RunAborted, RunIncomplete
from harness.evidence import (
    TraceWriter,
    copy_inputs,
    write_json_atomic,
    write_manifest,
)
from harness.fuzz import FuzzContext
from harness.mqtt.attach import open_mqtt, require_external_broker
from harness.observe import FrameLog
from harness.operator import Operator, PromptLog
from harness.outputs import claim_folder
from harness.profile.compile import Plan, PlannedCase
from harness.record import CaseRecord, RunRecord, RunStatus
from harness.run_outputs import Output, RunEnd, RunStart
from harness.runner import CaseRunner, RunObserver
from harness.sim.host import SimThread, identity_from_bench
from harness.sim.tcu import ReferenceTcu
from harness.sim.variants import get_variant
from harness.uds.steps import open_diagnostics

__all__ = ["DutChoice", "Session", "harness_version"]


SPILL_PERIOD = 10.0  # seconds of bus time between two looks for long observation columns


def harness_version() -> str:
    try:
        return metadata.version("cc-harness")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


@dataclass(frozen=True)
class DutChoice:
    """``sim``, ``sim:VARIANT`` or ``external``."""

    kind: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> DutChoice:
        kind, _, variant = text.partition(":")
        if kind == "external" and not variant:
            return cls("external")
        if kind == "sim":
            if variant:
                get_variant(variant)  # InputError with the valid names
            return cls("sim", variant or None)
        raise InputError(
            "--dut",
            expected="sim, sim:VARIANT or external",
            got=text,
            choices=["sim", "sim:VARIANT", "external"],
        )

    def __str__(self) -> str:
        return self.kind + (f":{self.variant}" if self.variant else "")


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
        outputs: Sequence[Output] = (),
    ) -> None:
        self.plan = plan
        self.dut = dut
        self.fuzz = FuzzContext(seed)  # the run seed of fuzz steps without their own
        self.simulated = dut.kind == "sim" and not realtime
        self.bench = bench if self.simulated else bench.with_channel_default()
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
        self.trace: TraceWriter | None = None
        self.tcu: ReferenceTcu | None = None
        self.sim_thread: SimThread | None = None
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
        )

    def _bench_description(self) -> dict[str, Any]:
        if self.simulated:
            return {"name": "simulated", "can": {"interface": "harness_sim", "channel": None}}
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
        if self.simulated:
            clock = VirtualClock()
            channel = f"sim-{self.run_id}"
            bus: can.BusABC = SimBus(channel, clock=clock)
            stack.callback(bus.shutdown)
            dut_bus = SimBus(channel)
            stack.callback(dut_bus.shutdown)
            self.loop = EventLoop(clock)
            self.tcu = ReferenceTcu(
                self.loop,
                dut_bus,
                self.plan.dbc,
                variant=self.dut.variant,
                identity=identity_from_bench(self.bench),
            )
            stack.callback(self.tcu.stop)
            self.mqtt = open_mqtt(self.loop, self.plan, self.bench, self.out_dir, stack, self.tcu)
            echoes = False
        else:
            clock = RealClock()
            inner = open_bus(self.bench.can)
            # A reader thread of its own, so evaluation never leaves the interface's buffer
            # to overflow; and every overrun counter the interface has (run.json "receive").
            want = self.bench.can.receive_buffer or DEFAULT_RECEIVE_BUFFER
            granted = set_receive_buffer(inner, want)
            counters = overrun_counters(inner, self.bench.can.interface, self.bench.can.channel)
            self.ingest = ThreadedBus(inner, counters, receive_buffer=granted)
            bus = self.ingest
            stack.callback(bus.shutdown)
            self.loop = EventLoop(clock)
            echoes = self.bench.can.interface in ECHOING_INTERFACES
            self.mqtt = open_mqtt(self.loop, self.plan, self.bench, self.out_dir, stack)
            if self.dut.kind == "sim":
                broker = self.mqtt.dut_address if self.mqtt is not None else None
                self.sim_thread = stack.enter_context(
                    SimThread(self.bench, self.plan.dbc, self.dut.variant, mqtt=broker)
                )
        self.port = CanPort(self.loop, bus, self.log, self.trace, echoes=echoes)
        if self.trace is not None:  # quiet stretches of a real-time run still flush on time
            self.loop.idle_hooks.append(self.trace.maybe_flush)
        # Long runs keep their older observations on disk (harness.spill): bounded memory.
        self._spiller = self.loop.every(SPILL_PERIOD, self._spill_large, first=SPILL_PERIOD)
        stack.callback(self._spiller.cancel)
        self.restbus = RestBus(self.loop, self.port.send, self.plan.restbus)
        stack.callback(self.restbus.stop)
        self.runner = CaseRunner(
            self.plan,
            self.loop,
            self.port,
            self.restbus,
            [*self.observers, *self.outputs],
            fuzz=self.fuzz,
        )
        self.diag = open_diagnostics(
            self.loop, self.port, self.plan, self.out_dir, stack, self.bench.diagnostics
        )
        self.runner.diag = self.diag
        if self.ingest is not None:
            self.runner.frame_losses = self.ingest.losses
            self.runner.caught_up = self.ingest.caught_up
        self.diag.fuzz = self.fuzz  # fuzz_diag steps: the run seed and the case's records
        self.runner.mqtt = self.mqtt
        self.runner.operator = self.operator
        self.runner.prompt_log = PromptLog(self.out_dir)
        if self.mqtt is not None:  # fuzz_command steps record into the run's fuzz context
            self.mqtt.fuzz = self.fuzz
        if self.tcu is not None:
            self.tcu.start()
        self.restbus.start()
        self.runner.wait_ready()
        if self.mqtt is not None:  # a part reaching the broker through the harness's relay
            self.mqtt.wait_for_dut()
        self.record.identity = self.diag.read_identity()  # RunIncomplete if unreadable

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
        if self.trace is not None:
            self.trace.flush()
        self._write_record(compact=True)  # the final record (finish, close) is indented
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
        self.log.spill_large()
        if self.mqtt is not None:
            self.mqtt.log.spill_large()

    def _write_record(self, *, compact: bool = False) -> None:
        if self.trace is not None and self.record.trace_origin is None:
            self.record.trace_origin = self.trace.first_timestamp
        if self.ingest is not None:
            self.record.receive = self.ingest.report()
        if self.out_dir is not None and self.claimed:  # never into a folder not ours
            write_json_atomic(self.out_dir / "run.json", self.record.to_json(), compact=compact)

    def _record_bytes(self) -> bytes:
        return (json.dumps(self.record.to_json(), indent=2) + "\n").encode("utf-8")

    @property
    def bus_time(self) -> float:
        return self.loop.now()


@contextlib.contextmanager
def session(plan: Plan, bench: Bench, dut: DutChoice, **kw: Any) -> Iterator[Session]:
    with Session(plan, bench, dut, **kw) as s:
        yield s

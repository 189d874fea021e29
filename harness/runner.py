"""Execute compiled cases: drive stimuli on the clock, then evaluate checks on what was seen.

Steps run through the registry of step kinds (:mod:`harness.adapter`): each transport's
adapter (CAN here; MQTT, diagnostics and the operator attached by the session; a lab's own
with :meth:`CaseRunner.attach`) executes its kinds and hands its observation streams to
every window. The runner has no branch per transport.

The runner never prints. It reports progress to :class:`RunObserver` callbacks, which the CLI
(rich), the pytest plugin and tests consume. A case's verdict is the worst of its checks'
verdicts; a step that cannot be carried out (a message the harness is not sending, a bus that
fails) makes the case ERROR, never PASS. A DUT that has gone away (its ready message silent
past the profile's ``dut.ready.lost_after``) ends the run INCOMPLETE before the next case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

# The built-in transports register their step kinds on import (harness.adapter).
import harness.mqtt.steps
import harness.operator
import harness.uds.steps  # noqa: F401
from harness.adapter import STEP_KINDS, Adapter
from harness.can.port import CanPort
from harness.can.restbus import RestBus
from harness.can.steps import CanAdapter
from harness.checks.evaluate import evaluate_checks
from harness.clock import EventLoop, VirtualClock
from harness.errors import DutNotResponding, RunIncomplete, StepFailed
from harness.fuzz import FuzzContext
from harness.observe import Window, quantize
from harness.plan import Plan, PlannedCase, PlannedStep
from harness.record import (
    CaseRecord,
    CheckResult,
    FrameLoss,
    Verdict,
    combine,
    judge_with_loss,
    lost_between,
)

A = TypeVar("A")

__all__ = ["CaseRunner", "RunObserver", "StepFailed"]


class RunObserver:
    """Callbacks for progress; every method is optional to override."""

    def case_started(self, case: PlannedCase, index: int, total: int) -> None:
        pass

    def step_started(self, case: PlannedCase, step: PlannedStep) -> None:
        pass

    def case_finished(self, record: CaseRecord) -> None:
        pass


SETTLE_LIMIT = 0.5  # seconds a real-time window's end waits for the reader to catch up


class CaseRunner:
    """Runs cases of one plan against one port, rest-bus and loop."""

    def __init__(
        self,
        plan: Plan,
        loop: EventLoop,
        port: CanPort,
        restbus: RestBus,
        observers: Sequence[RunObserver] = (),
        fuzz: FuzzContext | None = None,
        buses: Mapping[str, tuple[CanPort, int]] | None = None,
    ) -> None:
        """``buses``: every named bus's port and bit rate, on a profile of several (``port``
        is the first's)."""
        self.plan = plan
        self.loop = loop
        self.port = port
        self.restbus = restbus
        self.observers = list(observers)
        # the run seed and the fuzz records of the running case (harness.fuzz)
        self.fuzz = fuzz if fuzz is not None else FuzzContext()
        # The transports of the run, by name (harness.adapter): CAN here; the session
        # attaches the others (MQTT, diagnostics, the operator), a lab its own.
        self.can = CanAdapter(loop, port, restbus, plan.bitrate, self.fuzz, buses)
        # the ready message's bus (harness.plan.Plan.ready_bus), watched before every case
        self.ready_port = self.can.buses.get(plan.ready_bus, (port, 0))[0]
        self.adapters: dict[str, Adapter] = {self.can.name: self.can}
        self._step_path = ""
        # Live runs: the receiver's frame losses so far (harness.can.ingest); a check whose
        # window lost frames is never a PASS.
        self.frame_losses: Callable[[], Sequence[FrameLoss]] | None = None
        # Live runs: whether the reader has read every frame stamped up to a time.
        self.caught_up: Callable[[float], bool] | None = None

    # -- readiness ---------------------------------------------------------------------------
    def wait_ready(self) -> float:
        """Wait for the DUT's first ready-message frame; DutNotResponding after the timeout."""
        msg = self.plan.ready_message
        start = self.loop.now()
        seen = self.loop.run_for(
            self.plan.ready_timeout,
            until=lambda: bool(self.ready_port.log.rx_of(msg.frame_id).ts),
        )
        if not seen:
            raise DutNotResponding(
                f"the DUT sent no {msg.name} (0x{msg.frame_id:03X}) within "
                f"{self.plan.ready_timeout:g} s of the start on "
                f"{self.ready_port.bus.channel_info}; "
                "is it powered, on this bus and at this bitrate?"
            )
        return self.loop.now() - start

    def check_dut_alive(self, case: PlannedCase) -> None:
        """Before a case: has the DUT gone away (died, unplugged) since the last one?

        When the ready message's newest frame is older than the profile's ``lost_after``,
        the DUT gets that long again to send a fresh one; if it does not, DutNotResponding
        ends the run INCOMPLETE with the cases so far recorded, instead of every remaining
        case failing slowly. Silences a profile causes on purpose (ECUReset, ignition OFF,
        a watchdog restart) end well within ``lost_after`` and never wait here.
        """
        msg = self.plan.ready_message
        limit = self.plan.ready_lost_after
        log = self.ready_port.log
        seen = log.rx_of(msg.frame_id).ts
        if not seen:  # never up: wait_ready's business (a runner driven without it)
            return

        def fresh() -> bool:  # frames still queued in the bus are drained by run_for
            return self.loop.now() - log.rx_of(msg.frame_id).ts[-1] <= limit

        if fresh() or self.loop.run_for(limit, until=fresh):
            return
        last = log.rx_of(msg.frame_id).ts[-1]
        info = self.ready_port.bus.channel_info
        where = f" on {info}" if info and info != "unknown" else ""
        raise DutNotResponding(
            f"the DUT went silent: no {msg.name} (0x{msg.frame_id:03X}) since t={last:.6f} "
            f"({self.loop.now() - last:.1f} s; dut.ready.lost_after is {limit:g} s){where}, "
            f"before case {case.case_id}; the run is incomplete: did the DUT stop or lose power?"
        )

    # -- adapters and steps ------------------------------------------------------------------
    def attach(self, adapter: Adapter) -> None:
        """Add a transport's adapter to the run (one per name: a second replaces the first)."""
        self.adapters[adapter.name] = adapter

    def adapter(self, name: str, kind: type[A], missing: str) -> A:
        """The run's adapter ``name`` as ``kind`` (a step kind asks; :mod:`harness.adapter`)."""
        found = self.adapters.get(name)
        if not isinstance(found, kind):
            raise StepFailed(f"{self._step_path}: {missing}")
        return found

    def run_step(
        self,
        case: PlannedCase,
        step: PlannedStep,
        markers: dict[str, float],
        results: list[CheckResult],
    ) -> None:
        """Carry out one step through its registered kind; judge its checks when it has a
        window; mark its moment under its name."""
        start = self.loop.now()
        self._step_path = step.path
        if step.action not in STEP_KINDS:  # a plan built by hand; the compiler admits none
            raise StepFailed(f"{step.path}: unknown step kind {step.action}")
        outcome = STEP_KINDS.get(step.action).execute(self, step)
        if outcome.window_from is not None:
            window = self.window(outcome.window_from, self._settle(), markers)
            results.extend(self._evaluate_live(step.checks, window))
        if step.name:
            moment = outcome.moment if outcome.moment is not None else start
            markers[step.name] = quantize(moment)

    def window(self, t0: float, t1: float, markers: Mapping[str, float]) -> Window:
        """A window over [t0, t1] with every adapter's streams as of now."""
        streams: dict[str, object] = {}
        for adapter in self.adapters.values():
            streams.update(adapter.streams())
        return Window(
            quantize(t0),
            quantize(t1),
            markers=dict(markers),
            bitrate=self.plan.bitrate,
            streams=streams,
            data_bitrate=self.plan.data_bitrate,
        )

    def _settle(self) -> float:
        """End a window: run on to just short of the next 1 µs grid point and return the grid
        time now. Every frame stamped up to then lands on or before that grid point in the
        trace, so it must be in the live log too, or a re-evaluation from the trace would see
        a frame the live check did not (timer times are float sums, a hair off the grid)."""
        end = quantize(self.loop.now())
        if isinstance(self.loop.clock, VirtualClock):
            self.loop.run_until(end + 4e-7)
        else:  # a busy machine may not have let this process read them yet
            if (caught_up := self.caught_up) is not None:
                # frames stamped up to `end` may still wait in the reader's queue (or its
                # socket); take them in before judging, as the trace will have them.
                self.loop.run_for(SETTLE_LIMIT, until=lambda: caught_up(end))
            self.loop.drain()
        return end

    def evaluate_since(
        self, checks: Sequence[object], t0: float, markers: Mapping[str, float] | None = None
    ) -> list[CheckResult]:
        """Evaluate ``checks`` on the window from ``t0`` to now (a lab's own case,
        :mod:`harness.lab`), exactly as a profile's window is: settled, with the MQTT log,
        the operator's answers and, live, the receiver's frame losses."""
        end = self._settle()
        return list(self._evaluate_live(checks, self.window(t0, end, markers or {})))

    def _evaluate_live(self, checks: Sequence[object], window: Window) -> list[CheckResult]:
        results = evaluate_checks(checks, window)
        if self.frame_losses is None:
            return results
        lost = lost_between(self.frame_losses(), window.t0, window.t1)
        return [judge_with_loss(result, lost) for result in results]

    # -- cases -------------------------------------------------------------------------------
    def run_case(self, case: PlannedCase, index: int = 0, total: int = 1) -> CaseRecord:
        self.check_dut_alive(case)  # DutNotResponding: the run ends INCOMPLETE
        for obs in self.observers:
            obs.case_started(case, index, total)
        loop = self.loop
        for adapter in self.adapters.values():
            adapter.begin_case()
        self.fuzz.begin_case(case.case_id)
        started = loop.now()
        markers: dict[str, float] = {}
        results: list[CheckResult] = []
        error: str | None = None
        try:
            for step in (*self.plan.before_each, *case.steps):
                for obs in self.observers:
                    obs.step_started(case, step)
                self.run_step(case, step, markers, results)
            ended = self._settle()
            window = self.window(started, ended, markers)
            results.extend(self._evaluate_live(case.checks, window))
        except StepFailed as exc:
            error = str(exc)
        except RunIncomplete:
            raise
        finally:
            for adapter in self.adapters.values():
                adapter.end_case()
        ended = loop.now()
        verdicts = [r.verdict for r in results]
        if error is not None:
            verdicts.append(Verdict.ERROR)
        record = CaseRecord(
            case_id=case.case_id,
            title=case.title,
            requirements=case.requirements,
            mandatory=case.mandatory,
            verdict=combine(verdicts),
            started=started,
            ended=ended,
            checks=tuple(results),
            error=error,
            markers=markers,
            fuzz=self.fuzz.take(),
        )
        for obs in self.observers:
            obs.case_finished(record)
        return record

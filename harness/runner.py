"""Execute compiled cases: drive stimuli on the clock, then evaluate checks on what was seen.

The runner never prints. It reports progress to :class:`RunObserver` callbacks, which the CLI
(rich), the pytest plugin and tests consume. A case's verdict is the worst of its checks'
verdicts; a step that cannot be carried out (a message the harness is not sending, a bus that
fails) makes the case ERROR, never PASS. A DUT that has gone away (its ready message silent
past the profile's ``dut.ready.lost_after``) ends the run INCOMPLETE before the next case.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import can

from harness.can.fuzz import CanFuzzer
from harness.can.port import CanPort
from harness.can.restbus import RestBus, RestbusEntry
from harness.clock import EventLoop, VirtualClock
from harness.errors import DutNotResponding, HarnessError, RunIncomplete
from harness.fuzz import FuzzContext
from harness.observe import Window, quantize
from harness.profile.compile import Plan, PlannedCase, PlannedStep
from harness.record import (
    CaseRecord,
    CheckResult,
    FrameLoss,
    Verdict,
    combine,
    judge_with_loss,
    lost_between,
)

if TYPE_CHECKING:
    from harness.mqtt.side import MqttSide
    from harness.operator import Operator, PromptLog
    from harness.uds.steps import DiagDriver

__all__ = ["CaseRunner", "RunObserver", "StepFailed"]


class StepFailed(HarnessError):
    """A step could not be carried out; the case ends in ERROR."""


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
    ) -> None:
        self.plan = plan
        self.loop = loop
        self.port = port
        self.restbus = restbus
        self.observers = list(observers)
        self._noise: list[CanFuzzer] = []  # background CAN traffic of noise steps
        # the run seed and the fuzz records of the running case (harness.fuzz)
        self.fuzz = fuzz if fuzz is not None else FuzzContext()
        self.diag: DiagDriver | None = None  # diagnostic steps; the session sets it
        self.mqtt: MqttSide | None = None  # MQTT steps and log; the session sets it
        self.operator: Operator | None = None  # answers prompt steps; the session sets it
        self.prompt_log: PromptLog | None = None  # the answers so far (prompts.jsonl)
        # Live runs: the receiver's frame losses so far (harness.can.ingest); a check whose
        # window lost frames is never a PASS.
        self.frame_losses: Callable[[], Sequence[FrameLoss]] | None = None
        # Live runs: whether the reader has read every frame stamped up to a time.
        self.caught_up: Callable[[float], bool] | None = None
        # Windows evaluated by this runner see the MQTT log too; the static form stays for
        # offline re-evaluation (harness.offline).
        self._evaluate = self._evaluate_live  # type: ignore[method-assign]

    # -- readiness ---------------------------------------------------------------------------
    def wait_ready(self) -> float:
        """Wait for the DUT's first ready-message frame; DutNotResponding after the timeout."""
        msg = self.plan.ready_message
        start = self.loop.now()
        seen = self.loop.run_for(
            self.plan.ready_timeout,
            until=lambda: bool(self.port.log.rx_of(msg.frame_id).ts),
        )
        if not seen:
            raise DutNotResponding(
                f"the DUT sent no {msg.name} (0x{msg.frame_id:03X}) within "
                f"{self.plan.ready_timeout:g} s of the start on {self.port.bus.channel_info}; "
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
        seen = self.port.log.rx_of(msg.frame_id).ts
        if not seen:  # never up: wait_ready's business (a runner driven without it)
            return

        def fresh() -> bool:  # frames still queued in the bus are drained by run_for
            return self.loop.now() - self.port.log.rx_of(msg.frame_id).ts[-1] <= limit

        if fresh() or self.loop.run_for(limit, until=fresh):
            return
        last = self.port.log.rx_of(msg.frame_id).ts[-1]
        info = self.port.bus.channel_info
        where = f" on {info}" if info and info != "unknown" else ""
        raise DutNotResponding(
            f"the DUT went silent: no {msg.name} (0x{msg.frame_id:03X}) since t={last:.6f} "
            f"({self.loop.now() - last:.1f} s; dut.ready.lost_after is {limit:g} s){where}, "
            f"before case {case.case_id}; the run is incomplete: did the DUT stop or lose power?"
        )

    # -- steps -------------------------------------------------------------------------------
    def _entry(self, step: PlannedStep) -> RestbusEntry:
        assert step.message is not None
        return self.restbus[step.message.name]

    def _await_sends(
        self, entries: Sequence[RestbusEntry], counts: Sequence[int], what: str
    ) -> float:
        """Run until each entry has sent ``counts[i]`` more frames; the last send time."""
        targets = [e.sent + n for e, n in zip(entries, counts, strict=True)]
        for e in entries:
            if not e.running:
                raise StepFailed(f"{what}: {e.msg.name} is stopped; start it first")
        budget = max(e.plan.cycle * n for e, n in zip(entries, counts, strict=True)) + 1.0
        done = self.loop.run_for(
            budget, until=lambda: all(e.sent >= t for e, t in zip(entries, targets, strict=True))
        )
        if not done:
            raise StepFailed(f"{what}: frames were not sent within {budget:.3f} s")
        return max(e.last_sent or 0.0 for e in entries)

    def run_step(
        self,
        case: PlannedCase,
        step: PlannedStep,
        markers: dict[str, float],
        results: list[CheckResult],
    ) -> None:
        loop = self.loop
        moment = loop.now()
        action = step.action
        if action == "wait":
            loop.run_for(step.duration)
        elif action == "set":
            touched: dict[str, RestbusEntry] = {}
            for s in step.sets:
                entry = self.restbus[s.message.name]
                entry.set_raw(s.signal.name, s.raw)
                touched[entry.msg.name] = entry
            running = [e for e in touched.values() if e.running]
            if running:
                moment = self._await_sends(running, [1] * len(running), step.path)
        elif action == "stop":
            entry = self._entry(step)
            entry.stop()
            moment = entry.last_sent if entry.last_sent is not None else moment
        elif action == "start":
            entry = self._entry(step)
            if not entry.running:
                entry.start(first=loop.now())
            moment = self._await_sends([entry], [1], step.path)
        elif action == "send":
            moment = self.port.send(
                can.Message(
                    arbitration_id=step.frame_id,
                    data=step.frame_data,
                    dlc=len(step.frame_data),
                    is_extended_id=step.extended,
                )
            )
        elif action == "inject":
            entry = self._entry(step)
            entry.inject(step.fault or "", step.count, step.dlc)
            if step.wait:
                moment = self._await_sends([entry], [step.count], step.path)
        elif action == "wait_frames":
            entry = self._entry(step)
            moment = self._await_sends([entry], [step.count], step.path)
        elif action == "noise":
            assert step.fuzz is not None and step.fuzz.seed is not None
            gen = CanFuzzer(loop, self.port, step.fuzz, self.plan.bitrate, step.fuzz.seed)
            self._noise.append(gen)
            gen.start()
        elif action == "fuzz_can":
            t0 = loop.now()
            self._fuzz_can(step)
            window = Window(
                quantize(t0), self._settle(), self.port.log, dict(markers), self.plan.bitrate
            )
            results.extend(self._evaluate(step.checks, window))
        elif step.mqtt is not None:
            if self.mqtt is None:
                raise StepFailed(f"{step.path}: this run has no MQTT side (no mqtt section)")
            moment = self.mqtt.run_step(step.mqtt, step.path)
        elif step.diag is not None:
            if self.diag is None:
                raise StepFailed(f"{step.path}: this run has no diagnostic client")
            t0, moment = self.diag.run(step)
            window = Window(
                quantize(t0), self._settle(), self.port.log, dict(markers), self.plan.bitrate
            )
            results.extend(self._evaluate(step.checks, window))
        elif step.prompt is not None:
            t0 = loop.now()
            self._ask(step)
            window = Window(
                quantize(t0), self._settle(), self.port.log, dict(markers), self.plan.bitrate
            )
            results.extend(self._evaluate(step.checks, window))
        elif action == "observe":
            t0 = loop.now()
            loop.run_for(step.duration)
            window = Window(
                quantize(t0), self._settle(), self.port.log, dict(markers), self.plan.bitrate
            )
            results.extend(self._evaluate(step.checks, window))
        else:  # pragma: no cover - the compiler admits no other action
            raise StepFailed(f"{step.path}: unknown action {action}")
        if step.name:
            markers[step.name] = quantize(moment)

    def _ask(self, step: PlannedStep) -> None:
        """Ask the operator a prompt step's question and log the answer (harness.operator)."""
        from harness.operator import PromptLog, ask_on_loop

        assert step.prompt is not None
        if self.operator is None:
            raise StepFailed(
                f"{step.path}: prompt {step.prompt.key} needs an operator and none is attached "
                "(give --answers FILE, run at a terminal, or --server URL)"
            )
        if self.prompt_log is None:
            self.prompt_log = PromptLog()
        realtime = not isinstance(self.loop.clock, VirtualClock)
        answer = ask_on_loop(self.loop, self.operator, step.prompt, realtime)
        self.prompt_log.record(step.prompt, answer, quantize(self.loop.now()))

    def _fuzz_can(self, step: PlannedStep) -> None:
        """Run a fuzz_can step to its end (a pass over every pair, or its 'for')."""
        plan = step.fuzz
        assert plan is not None
        seed = self.fuzz.seed_for(step.path, plan.seed)
        record = self.fuzz.start(step.path, "can", seed, self.loop.now())
        gen = CanFuzzer(self.loop, self.port, plan, self.plan.bitrate, seed, record)
        self._noise.append(gen)  # cancelled with the case, whatever happens
        gen.start()
        budget = plan.expected_duration(self.plan.bitrate) * 1.5 + 1.0
        if plan.watch is not None:  # the watch stays on for one silence after the last frame
            budget += plan.watch.silence
        if not self.loop.run_for(budget, until=lambda: gen.done):
            gen.cancel()
            raise StepFailed(
                f"{step.path}: fuzzing did not finish within {budget:.1f} s "
                f"({gen.sent} frames sent); is the bus or the harness saturated?"
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
        window = Window(quantize(t0), end, self.port.log, dict(markers or {}), self.plan.bitrate)
        return list(self._evaluate(checks, window))

    def _evaluate_live(self, checks: Sequence[object], window: Window) -> list[CheckResult]:
        if self.mqtt is not None:  # the MQTT messages of the same span, on the same clock
            self.mqtt.sync()
            window = dataclasses.replace(window, mqtt=self.mqtt.log)
        if self.prompt_log is not None:  # the operator's answers so far
            window = dataclasses.replace(window, prompts=list(self.prompt_log.entries))
        results = CaseRunner._evaluate(checks, window)
        if self.frame_losses is None:
            return results
        lost = lost_between(self.frame_losses(), window.t0, window.t1)
        return [judge_with_loss(result, lost) for result in results]

    @staticmethod
    def _evaluate(checks: Sequence[object], window: Window) -> list[CheckResult]:
        out = []
        for check in checks:
            try:
                result = check.evaluate(window)  # type: ignore[attr-defined]
                out.append(dataclasses.replace(result, window=(window.t0, window.t1)))
            except Exception as exc:  # a bug in a check must not pass a case
                out.append(
                    CheckResult(
                        kind=getattr(check, "kind", "?"),
                        verdict=Verdict.ERROR,
                        summary=f"check raised {type(exc).__name__}: {exc}",
                        label=getattr(check, "label", ""),
                        requirements=getattr(check, "requirements", ()),
                        window=(window.t0, window.t1),
                    )
                )
        return out

    # -- cases -------------------------------------------------------------------------------
    def run_case(self, case: PlannedCase, index: int = 0, total: int = 1) -> CaseRecord:
        self.check_dut_alive(case)  # DutNotResponding: the run ends INCOMPLETE
        for obs in self.observers:
            obs.case_started(case, index, total)
        loop = self.loop
        self.restbus.reset()
        self._cancel_noise()
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
            window = Window(
                quantize(started),
                quantize(ended),
                self.port.log,
                dict(markers),
                self.plan.bitrate,
            )
            results.extend(self._evaluate(case.checks, window))
        except StepFailed as exc:
            error = str(exc)
        except RunIncomplete:
            raise
        finally:
            self._cancel_noise()
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

    def _cancel_noise(self) -> None:
        for gen in self._noise:
            gen.cancel()
        self._noise.clear()

"""V2X checks against time and against the CAN stimuli: secMark, fields vs inputs, deltas.

* ``v2x_secmark``: a field holds the milliseconds within the current UTC minute of the
  message's arrival (± tolerance, modulo one minute). On the virtual clock UTC is a fixed
  epoch plus virtual time, the same for the harness and the simulator.
* ``v2x_field``: a field reflects the newest *valid* frame of a CAN signal the harness sent,
  converted as the profile declares (``factor``/``offset`` on the raw or physical value,
  rounding, range, clamp or "unavailable" beyond it). A frame sent less than ``settle`` before
  the message may or may not show yet; from ``settle`` on it must. "Valid" is the DBC length
  and, for an E2E-protected message, a correct CRC and an alive counter other than the last
  valid frame's.
* ``signal_delta``: a DUT signal changed by exactly N (modulo its range) from the last frame
  before one step to the last frame of the window (CmdCount counting commands).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Annotated, Any, Literal

from pydantic import Field

from harness.can.dbc import MessageCodec, SignalCodec
from harness.can.e2e import Protection
from harness.checks.base import Check, CheckParams, Resolver, fail, register
from harness.checks.can_counts import signal_change
from harness.checks.v2x import _MISSING, MqttCheck, MqttParams, field_value
from harness.observe import Column, Window
from harness.record import CheckResult, Offender, Verdict
from harness.units import Duration, format_duration

__all__ = ["SecMarkCheck", "SignalDeltaCheck", "V2xFieldCheck"]


class SecMarkParams(MqttParams):
    kind: Literal["v2x_secmark"]
    field: str = "secMark"
    tolerance: Duration = 0.100
    min_messages: int = Field(default=1, ge=1)


@register
class SecMarkCheck(MqttCheck):
    """``secMark`` is the UTC millisecond of the minute when the message arrived (±100 ms)."""

    kind = "v2x_secmark"
    Params = SecMarkParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, SecMarkParams)
        self.p = params
        super().__init__(params, resolver)

    def describe(self) -> str:
        tol = format_duration(self.p.tolerance)
        return f"{self.mp.topic}.{self.p.field} = UTC ms of minute ±{tol}"

    def evaluate(self, window: Window) -> CheckResult:
        got = self.setup(window)
        if isinstance(got, CheckResult):
            return got
        log, col, t0, t1 = got
        i, j = col.span(t0, t1)
        if j - i < self.p.min_messages:
            return self.result(Verdict.FAIL, f"{j - i} message(s)", {"messages": j - i})
        bad = self.decode_failure(col, i, j)
        if bad is not None:
            return bad
        worst = 0.0
        tol_ms = self.p.tolerance * 1000
        for k in range(i, j):
            mark = field_value(col.value[k], self.p.field)
            if not isinstance(mark, int):
                return self.result(Verdict.FAIL, f"{self.p.field} missing")
            expected = (log.utc(col.ts[k]) * 1000) % 60000
            diff = (mark - expected + 30000) % 60000 - 30000
            worst = max(worst, abs(diff))
            if abs(diff) > tol_ms + 1e-6:
                return self.result(
                    Verdict.FAIL,
                    f"{self.p.field} {mark} is {diff:+.0f} ms off the arrival time",
                    {"messages": j - i, "max_error_ms": abs(diff)},
                    {"tolerance_ms": tol_ms},
                    Offender(col.ts[k], f"{self.p.field} {mark}, expected {expected:.0f}"),
                )
        return self.result(
            Verdict.PASS,
            f"{j - i} messages, worst {worst:.1f} ms",
            {"messages": j - i, "max_error_ms": worst},
            {"tolerance_ms": tol_ms},
        )


class V2xFieldParams(MqttParams):
    kind: Literal["v2x_field"]
    field: str
    message: str = Field(description="the CAN message the harness sends")
    signal: str
    use: Literal["raw", "physical"] = "raw"
    factor: float = 1.0
    offset: float = 0.0
    tolerance: float = Field(default=0.0, ge=0)
    range: Annotated[list[float], Field(min_length=2, max_length=2)] | None = None
    beyond: Literal["clamp", "unavailable"] = "unavailable"
    unavailable: int | None = Field(default=None, description="the field's 'unavailable' value")
    settle: Duration = Field(default=0.100, description="a newer input may not show yet")
    min_messages: int = Field(default=1, ge=1)


@register
class V2xFieldCheck(MqttCheck):
    """A message field equals the converted newest valid CAN input (see the module)."""

    kind = "v2x_field"
    Params = V2xFieldParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, V2xFieldParams)
        self.p = params
        self.msg: MessageCodec = resolver.message("message", params.message)
        self.sig: SignalCodec = resolver.signal("signal", self.msg, params.signal)
        self.e2e: Protection | None = resolver.e2e_map.get(self.msg.name)
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"{self.mp.topic}.{self.p.field} from {self.msg.name}.{self.sig.name}"

    def expected(self, data: bytes) -> int | None:
        raw = self.sig.raw(data)
        if raw is None:
            return None
        x = float(raw) if self.p.use == "raw" else raw * self.sig.scale + self.sig.offset
        v = x * self.p.factor + self.p.offset
        value = round(v)
        if self.p.range is not None:
            lo, hi = self.p.range
            if not lo <= value <= hi:
                if self.p.beyond == "clamp":
                    value = round(min(max(value, lo), hi))
                else:
                    return self.p.unavailable
        return value

    def _ok(self, data: bytes) -> bool:
        """The frame has the DBC length and, when protected, a correct CRC."""
        return len(data) == self.msg.length and (self.e2e is None or self.e2e.verify(data))

    def _first_needed(self, col: Column, limit: int) -> int:
        """Where :meth:`_valid` may start for messages at or after frame ``limit`` - 1: the
        newest well-formed frame before ``limit``, or the first of the frames just before it
        that repeat its alive counter (only that first one is valid); 0 when there is none.

        A frame starts such a run when the well-formed frame before it has another counter,
        so a scan from it finds the same valid frames from there on as one from the start:
        the run's result is that of the run's window alone, not of the whole trace.
        """
        k = limit - 1
        while k >= 0 and not self._ok(col.data[k]):
            k -= 1
        if k < 0 or self.e2e is None:
            return max(k, 0)
        counter = self.e2e.counter_of(col.data[k])
        if counter is None:
            return k
        for m in range(k - 1, -1, -1):
            data = col.data[m]
            if self._ok(data):
                if self.e2e.counter_of(data) != counter:
                    break
                k = m
        return k

    def _valid(self, col: Column, t_from: float, t_to: float) -> list[int]:
        """Indices of the valid frames the harness sent (length, and E2E if protected) that a
        message between ``t_from`` + settle and ``t_to`` can be judged against: from the
        newest valid one at or before ``t_from`` to the last at or before ``t_to``."""
        out: list[int] = []
        last_counter: int | None = None
        e2e = self.e2e
        data_of = col.data
        start = self._first_needed(col, bisect_right(col.ts, t_from))
        for k in range(start, bisect_right(col.ts, t_to)):
            data = data_of[k]
            if not self._ok(data):
                continue
            if e2e is not None:
                counter = e2e.counter_of(data)
                if counter is not None and counter == last_counter:
                    continue
                last_counter = counter
            out.append(k)
        return out

    def evaluate(self, window: Window) -> CheckResult:
        got = self.setup(window)
        if isinstance(got, CheckResult):
            return got
        _, col, t0, t1 = got
        p = self.p
        i, j = col.span(t0, t1)
        if j - i < p.min_messages:
            return self.result(Verdict.FAIL, f"{j - i} message(s)", {"messages": j - i})
        bad = self.decode_failure(col, i, j)
        if bad is not None:
            return bad
        tx = window.log.tx_of(self.msg.frame_id)
        valid = self._valid(tx, col.ts[i] - p.settle, col.ts[j - 1])
        vts = [tx.ts[k] for k in valid]
        worst = 0.0
        for k in range(i, j):
            got_v = field_value(col.value[k], p.field)
            if got_v is _MISSING:
                return self.result(Verdict.FAIL, f"{p.field} missing")
            if isinstance(got_v, bool):
                got_v = int(got_v)
            ts = col.ts[k]
            settled = bisect_right(vts, ts - p.settle) - 1
            fresh = bisect_right(vts, ts)
            candidates: list[Any] = [
                p.unavailable if settled < 0 else self.expected(tx.data[valid[settled]])
            ]
            candidates += [self.expected(tx.data[valid[m]]) for m in range(settled + 1, fresh)]
            errors = [
                abs(got_v - c) if isinstance(c, (int, float)) else float("inf") for c in candidates
            ]
            best = min(errors)
            if best > p.tolerance + 1e-9:
                return self.result(
                    Verdict.FAIL,
                    f"{p.field} = {got_v}, expected {candidates[0]}"
                    + (f" (or {', '.join(map(str, candidates[1:]))})" if candidates[1:] else ""),
                    {"messages": j - i},
                    {"tolerance": p.tolerance},
                    Offender(ts, f"{p.field} {got_v} vs {self.sig.name} input"),
                )
            worst = max(worst, best)
        return self.result(
            Verdict.PASS,
            f"{j - i} messages, {p.field} within {worst:g} of the input",
            {"messages": j - i, "max_error": worst},
            {"tolerance": p.tolerance},
        )


class SignalDeltaParams(CheckParams):
    kind: Literal["signal_delta"]
    message: str = Field(description="a DBC message the DUT sends")
    signal: str
    from_: str = Field(alias="from", description="value of the last frame before this step")
    delta: int = Field(description="expected change to the last frame of the window")


@register
class SignalDeltaCheck(Check):
    """A DUT signal changed by exactly ``delta`` (modulo its range) over the window."""

    kind = "signal_delta"
    Params = SignalDeltaParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, SignalDeltaParams)
        self.p = params
        self.msg = resolver.message("message", params.message)
        self.sig = resolver.signal("signal", self.msg, params.signal)
        self.marker = resolver.marker("from", params.from_)
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"{self.msg.name}.{self.sig.name} {self.p.delta:+d} after {self.marker}"

    def evaluate(self, window: Window) -> CheckResult:
        got = signal_change(window, self.msg, self.sig, self.marker)
        if isinstance(got, tuple):
            return self.result(*got)
        ok = got.change == self.p.delta % got.modulus
        return self.result(
            fail(ok),
            f"{self.sig.name} {got.before} -> {got.after} ({got.change:+d})",
            {"before": got.before, "after": got.after, "delta": got.change},
            {"delta": self.p.delta},
            None if ok else Offender(got.ts, f"{self.sig.name} {got.after}"),
        )

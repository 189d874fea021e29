"""Signal checks: a value over a window, stimulus-to-response latency, flag set and clear."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.checks.base import (
    Check,
    CheckParams,
    Resolver,
    SignalCondition,
    fail,
    hexdata,
    register,
)
from harness.observe import Column, Window
from harness.record import CheckResult, Offender, Verdict
from harness.units import Duration, SignalValue, format_duration

__all__ = ["FlagCheck", "LatencyCheck", "SignalCheck"]


class SignalParams(CheckParams):
    kind: Literal["signal"]
    message: str
    signal: str
    equals: SignalValue | None = Field(default=None, description="number or value-table name")
    one_of: list[SignalValue] | None = None
    min: float | None = None
    max: float | None = None
    min_frames: int = Field(default=1, ge=1)


@register
class SignalCheck(Check):
    """Every frame of the message in the window carries a value meeting the condition."""

    kind = "signal"
    Params = SignalParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, SignalParams)
        self.p = params
        self.msg = resolver.message("message", params.message)
        sig = resolver.signal("signal", self.msg, params.signal)
        cond = SignalCondition(
            equals=params.equals, one_of=params.one_of, min=params.min, max=params.max
        )
        if cond.is_empty():
            raise resolver.error(
                "signal", expected="a condition: equals, one_of, min or max", got=None
            )
        self.cond = resolver.condition("", sig, cond)
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"{self.msg.name}.{self.cond.describe()}"

    def evaluate(self, window: Window) -> CheckResult:
        col = window.log.rx_of(self.msg.frame_id)
        i, j = col.span(window.t0, window.t1)
        n = j - i
        if n < self.p.min_frames:
            return self.result(
                Verdict.FAIL, f"{n} frame(s), expected at least {self.p.min_frames}", {"frames": n}
            )
        matches = self.cond.matches
        bad = [k for k in range(i, j) if not matches(col.data[k])]
        offender = None
        if bad:
            k = bad[0]
            offender = Offender(
                col.ts[k],
                f"{self.cond.sig.name} = {self.cond.show(col.data[k])}",
                self.msg.frame_id,
                hexdata(col.data[k]),
            )
        return self.result(
            fail(not bad),
            f"{n - len(bad)}/{n} frames with {self.cond.describe()}",
            {"frames": n, "violations": len(bad)},
            {"condition": self.cond.describe()},
            offender,
        )


class LatencyParams(CheckParams):
    kind: Literal["latency"]
    from_: str = Field(alias="from", description="name of the stimulus step")
    message: str
    signal: str | None = None
    equals: SignalValue | None = None
    one_of: list[SignalValue] | None = None
    min: float | None = Field(default=None, description="lower bound of the signal value")
    max: float | None = Field(default=None, description="upper bound of the signal value")
    within: Duration = Field(description="longest allowed latency")
    not_before: Duration = Field(default=0.0, description="shortest allowed latency")


@register
class LatencyCheck(Check):
    """Time from a named stimulus to the DUT's first frame (optionally with a value)."""

    kind = "latency"
    Params = LatencyParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, LatencyParams)
        self.p = params
        self.marker = resolver.marker("from", params.from_)
        self.msg = resolver.message("message", params.message)
        self.cond = None
        if params.signal is not None:
            sig = resolver.signal("signal", self.msg, params.signal)
            cond = SignalCondition(
                equals=params.equals, one_of=params.one_of, min=params.min, max=params.max
            )
            self.cond = resolver.condition("", sig, cond)
        super().__init__(params, resolver)

    def describe(self) -> str:
        what = self.msg.name + (f" with {self.cond.describe()}" if self.cond else "")
        return f"{what} within {format_duration(self.p.within)} of {self.marker}"

    def evaluate(self, window: Window) -> CheckResult:
        t_m = window.markers.get(self.marker)
        limits = {"within": self.p.within, "not_before": self.p.not_before}
        if t_m is None:
            return self.result(Verdict.ERROR, f"step {self.marker!r} did not run", {}, limits)
        col = window.log.rx_of(self.msg.frame_id)
        i, j = col.span(t_m, window.t1)
        cond = self.cond
        for k in range(i, j):
            if cond is None or cond.matches(col.data[k]):
                latency = col.ts[k] - t_m
                ok = self.p.not_before <= latency <= self.p.within + 1e-12
                return self.result(
                    fail(ok),
                    f"latency {format_duration(latency)}",
                    {"latency": latency},
                    limits,
                    None
                    if ok
                    else Offender(
                        col.ts[k], "first matching frame", self.msg.frame_id, hexdata(col.data[k])
                    ),
                )
        waited = window.t1 - t_m
        if waited < self.p.within:
            return self.result(
                Verdict.INCONCLUSIVE,
                f"no match, but the case ended {format_duration(waited)} after the stimulus",
                {"waited": waited},
                limits,
            )
        return self.result(
            Verdict.FAIL,
            f"no matching {self.msg.name} within {format_duration(waited)} of {self.marker}",
            {"waited": waited, "latency": None},
            limits,
            Offender(t_m, f"stimulus {self.marker}"),
        )


class FlagParams(CheckParams):
    kind: Literal["flag"]
    message: str
    signal: str
    value: SignalValue = Field(default=1, description="the value that means 'set'")
    set_after: str = Field(description="name of the step after which the flag must set")
    set_within: Duration
    set_not_before: Duration = Field(
        default=0.0, description="the flag must still be clear this long after set_after"
    )
    clear_after: str | None = Field(default=None, description="step after which it must clear")
    clear_within: Duration | None = None
    clear_before: bool = Field(default=True, description="the flag is clear before set_after")


@register
class FlagCheck(Check):
    """A flag sets within T of one stimulus, stays set, and clears within T of another."""

    kind = "flag"
    Params = FlagParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, FlagParams)
        self.p = params
        self.msg = resolver.message("message", params.message)
        self.sig = resolver.signal("signal", self.msg, params.signal)
        self.raw_set = resolver.raw_value(("value",), self.sig, params.value)
        self.set_marker = resolver.marker("set_after", params.set_after)
        self.clear_marker = None
        if params.clear_after is not None:
            self.clear_marker = resolver.marker("clear_after", params.clear_after)
            if params.clear_within is None:
                raise resolver.error("clear_within", expected="a duration with clear_after")
        super().__init__(params, resolver)

    def describe(self) -> str:
        text = f"{self.msg.name}.{self.sig.name} set within {format_duration(self.p.set_within)}"
        if self.clear_marker and self.p.clear_within is not None:
            text += f", cleared within {format_duration(self.p.clear_within)}"
        return text

    def _first(self, col: Column, t0: float, t1: float, want_set: bool) -> int:
        i, j = col.span(t0, t1)
        raw, is_set = self.sig.raw, self.raw_set
        for k in range(i, j):
            if (raw(col.data[k]) == is_set) == want_set:
                return k
        return -1

    def evaluate(self, window: Window) -> CheckResult:
        p = self.p
        t_set = window.markers.get(self.set_marker)
        t_clear = window.markers.get(self.clear_marker) if self.clear_marker else None
        if t_set is None or (self.clear_marker and t_clear is None):
            return self.result(Verdict.ERROR, "a named step of this check did not run")
        col = window.log.rx_of(self.msg.frame_id)
        end_set_phase = t_clear if t_clear is not None else window.t1
        limits = {"set_within": p.set_within, "clear_within": p.clear_within}
        meas: dict[str, float | int | None] = {}

        def bad(k: int, what: str) -> CheckResult:
            return self.result(
                Verdict.FAIL,
                what,
                meas,
                limits,
                Offender(col.ts[k], what, self.msg.frame_id, hexdata(col.data[k])),
            )

        early_end = t_set + p.set_not_before if p.clear_before else t_set
        if p.clear_before or p.set_not_before:
            k = self._first(col, window.t0, early_end - 1e-12, want_set=True)
            if k >= 0:
                return bad(k, f"{self.sig.name} set before it should be")
        k_set = self._first(col, t_set, end_set_phase, want_set=True)
        if k_set < 0:
            meas["set_latency"] = None
            return self.result(
                Verdict.FAIL,
                f"{self.sig.name} never set after {self.set_marker}",
                meas,
                limits,
                Offender(t_set, f"stimulus {self.set_marker}"),
            )
        set_latency = col.ts[k_set] - t_set
        meas["set_latency"] = set_latency
        if set_latency > p.set_within + 1e-12:
            return bad(k_set, f"set after {format_duration(set_latency)}")
        k = self._first(col, col.ts[k_set], end_set_phase - 1e-12, want_set=False)
        if k >= 0:
            return bad(k, f"{self.sig.name} cleared before {self.clear_marker or 'the end'}")
        if t_clear is None or p.clear_within is None:
            return self.result(
                Verdict.PASS, f"set after {format_duration(set_latency)}", meas, limits
            )
        k_clr = self._first(col, t_clear, window.t1, want_set=False)
        if k_clr < 0:
            meas["clear_latency"] = None
            waited = window.t1 - t_clear
            verdict = Verdict.INCONCLUSIVE if waited < p.clear_within else Verdict.FAIL
            return self.result(
                verdict,
                f"{self.sig.name} still set {format_duration(waited)} after {self.clear_marker}",
                meas,
                limits,
                Offender(t_clear, f"stimulus {self.clear_marker}"),
            )
        clear_latency = col.ts[k_clr] - t_clear
        meas["clear_latency"] = clear_latency
        if clear_latency > p.clear_within + 1e-12:
            return bad(k_clr, f"cleared after {format_duration(clear_latency)}")
        k = self._first(col, col.ts[k_clr], window.t1, want_set=True)
        if k >= 0:
            return bad(k, f"{self.sig.name} set again after clearing")
        return self.result(
            Verdict.PASS,
            f"set after {format_duration(set_latency)}, "
            f"cleared after {format_duration(clear_latency)}",
            meas,
            limits,
        )

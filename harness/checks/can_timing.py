"""CAN timing checks: cycle time, bus load, allowed identifiers, absence of a message."""

from __future__ import annotations

from collections import Counter
from itertools import islice
from typing import Annotated, Literal

from pydantic import Field

from harness.checks.base import Check, CheckParams, Resolver, fail, hexdata, register
from harness.observe import Window, frame_bits
from harness.record import CheckResult, Offender, Verdict
from harness.units import CanId, Duration, Percent, format_duration

__all__ = ["AbsentCheck", "AllowedIdsCheck", "BusLoadCheck", "CycleTimeCheck", "frame_bits"]


class CycleTimeParams(CheckParams):
    kind: Literal["cycle_time"]
    message: str = Field(description="DBC message the DUT sends")
    min: Duration = Field(description="shortest allowed interval between two frames")
    max: Duration = Field(description="longest allowed interval (also the longest silence)")
    mean: Annotated[list[Duration], Field(min_length=2, max_length=2)] | None = Field(
        default=None, description="[low, high] bounds of the mean interval over the window"
    )
    min_frames: int = Field(default=2, ge=2, description="fewer frames than this fail")
    include_entering: bool = Field(
        default=False,
        description="also judge the interval from the last frame before the window",
    )


@register
class CycleTimeCheck(Check):
    """Every interval between consecutive frames within [min, max]; optional mean bounds.

    A silence longer than ``max`` at the start or end of the window fails too, so a part
    that stops sending mid-window cannot pass on the intervals it sent before.
    """

    kind = "cycle_time"
    Params = CycleTimeParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, CycleTimeParams)
        self.p = params
        self.msg = resolver.message("message", params.message)
        if params.min > params.max:
            raise resolver.error("min", expected=f"at most max ({params.max} s)", got=params.min)
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"{self.msg.name} cycle {format_duration(self.p.min)}..{format_duration(self.p.max)}"

    def evaluate(self, window: Window) -> CheckResult:
        p = self.p
        col = window.log.rx_of(self.msg.frame_id)
        i, j = col.span(window.t0, window.t1)
        ts = col.ts
        count = j - i
        if p.include_entering and i > 0:
            i -= 1
        limits = {"min": p.min, "max": p.max, "mean": list(p.mean) if p.mean else None}
        if count < p.min_frames:
            return self.result(
                Verdict.FAIL,
                f"{count} {self.msg.name} frame(s) in {window.duration:.3f} s, "
                f"expected at least {p.min_frames}",
                {"frames": count},
                limits,
            )
        lo_i = hi_i = -1
        lo = hi = 0.0
        worst_k = -1
        worst_excess = 0.0
        prev = ts[i]
        for k in range(i + 1, j):
            t = ts[k]
            d = t - prev
            prev = t
            if lo_i < 0 or d < lo:
                lo, lo_i = d, k
            if hi_i < 0 or d > hi:
                hi, hi_i = d, k
            excess = p.min - d if d < p.min else (d - p.max if d > p.max else 0.0)
            if excess > worst_excess + 1e-12:
                worst_excess, worst_k = excess, k
        intervals = j - 1 - i
        mean = (ts[j - 1] - ts[i]) / intervals
        bad = (
            sum(1 for k in range(i + 1, j) if not p.min <= ts[k] - ts[k - 1] <= p.max + 1e-12)
            if worst_k >= 0
            else 0
        )
        lead = ts[j - count] - window.t0
        trail = window.t1 - ts[j - 1]
        meas = {
            "frames": count,
            "intervals": intervals,
            "min_interval": lo,
            "mean_interval": mean,
            "max_interval": hi,
            "violations": bad,
            "leading_gap": lead,
            "trailing_gap": trail,
        }
        problems: list[str] = []
        offender: Offender | None = None
        if worst_k >= 0:
            d = ts[worst_k] - ts[worst_k - 1]
            problems.append(
                f"{bad} interval(s) outside {format_duration(p.min)}..{format_duration(p.max)}, "
                f"worst {format_duration(d)}"
            )
            offender = Offender(
                ts[worst_k],
                f"interval {format_duration(d)} ending here",
                self.msg.frame_id,
                hexdata(col.data[worst_k]),
            )
        if p.mean and not p.mean[0] <= mean <= p.mean[1]:
            problems.append(
                f"mean {format_duration(mean)} outside "
                f"{format_duration(p.mean[0])}..{format_duration(p.mean[1])}"
            )
        if trail > p.max + 1e-12:
            problems.append(f"silent for the last {format_duration(trail)} of the window")
            offender = offender or Offender(ts[j - 1], "last frame before the silence")
        if not p.include_entering and lead > p.max + 1e-12:
            problems.append(f"silent for the first {format_duration(lead)} of the window")
        verdict = fail(not problems)
        summary = (
            "; ".join(problems)
            if problems
            else f"{intervals} intervals {format_duration(lo)}..{format_duration(hi)}, "
            f"mean {format_duration(mean)}"
        )
        return self.result(verdict, summary, meas, limits, offender)


class BusLoadParams(CheckParams):
    kind: Literal["bus_load"]
    max_percent: Percent = Field(description="highest allowed load of the DUT's frames")
    window: Duration = Field(default=1.0, gt=0, description="sliding window length")


@register
class BusLoadCheck(Check):
    """Bus load of the DUT's frames over every sliding window, worst-case stuffed lengths."""

    kind = "bus_load"
    Params = BusLoadParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, BusLoadParams)
        self.p = params
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"DUT bus load < {self.p.max_percent:g} % per {format_duration(self.p.window)}"

    def evaluate(self, window: Window) -> CheckResult:
        log = window.log
        i, j = log.rx_all.span(window.t0, window.t1)
        ts = log.rx_all.ts
        bits = log.frame_time_bits(i, j, window.fast_ratio)  # nominal bit times, from i
        width = min(self.p.window, window.duration) or self.p.window
        capacity = width * window.bitrate
        total: float = 0
        worst: float = 0
        worst_end = window.t0
        left = i
        for k in range(i, j):
            total += bits[k - i]
            edge = ts[k] - width
            while ts[left] <= edge:
                total -= bits[left - i]
                left += 1
            if total > worst:
                worst, worst_end = total, ts[k]
        peak = 100.0 * worst / capacity
        overall = 100.0 * sum(bits) / (max(window.duration, 1e-9) * window.bitrate)
        ok = peak < self.p.max_percent
        meas = {"peak_percent": peak, "mean_percent": overall, "frames": j - i, "window": width}
        offender = None if ok else Offender(worst_end, f"window ending here carries {peak:.2f} %")
        return self.result(
            fail(ok),
            f"peak {peak:.2f} % (mean {overall:.2f} %) of {window.bitrate} bit/s",
            meas,
            {"max_percent": self.p.max_percent},
            offender,
        )


class AllowedIdsParams(CheckParams):
    kind: Literal["allowed_ids"]
    ids: list[CanId] = Field(min_length=1, description="the only identifiers the DUT may send")


@register
class AllowedIdsCheck(Check):
    """The DUT sends no identifier outside the allowed set."""

    kind = "allowed_ids"
    Params = AllowedIdsParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, AllowedIdsParams)
        self.allowed = frozenset(params.ids)
        super().__init__(params, resolver)

    def describe(self) -> str:
        return "DUT identifiers within " + ", ".join(f"0x{i:03X}" for i in sorted(self.allowed))

    def evaluate(self, window: Window) -> CheckResult:
        log = window.log
        i, j = log.rx_all.span(window.t0, window.t1)
        counts = Counter(islice(log.rx_ids, i, j))  # counted in C: no per-frame Python
        seen = {cid: n for cid, n in counts.items() if cid not in self.allowed}
        offender = None
        if seen:
            # the earliest disallowed frame: the first in-window frame of each such id
            candidates = []
            for cid in seen:
                col = log.rx_of(cid)
                k = col.span(window.t0, window.t1)[0]
                candidates.append((col.ts[k], cid, col.data[k]))
            first_ts, first_id, first_data = min(candidates)
            offender = Offender(
                first_ts,
                "first frame on an identifier outside the allowed set",
                first_id,
                hexdata(first_data),
            )
        unexpected = {f"0x{cid:03X}": n for cid, n in sorted(seen.items())}
        summary = (
            f"{j - i} frames, all on allowed identifiers"
            if not seen
            else "unexpected identifiers: " + ", ".join(f"{k} x{v}" for k, v in unexpected.items())
        )
        return self.result(
            fail(not seen),
            summary,
            {"frames": j - i, "unexpected": unexpected},
            {"allowed": [f"0x{c:03X}" for c in sorted(self.allowed)]},
            offender,
        )


class AbsentParams(CheckParams):
    kind: Literal["absent"]
    message: str = Field(description="DBC message that must not appear in the window")


@register
class AbsentCheck(Check):
    """No frame of the message in the window."""

    kind = "absent"
    Params = AbsentParams

    def __init__(self, params: CheckParams, resolver: Resolver) -> None:
        assert isinstance(params, AbsentParams)
        self.msg = resolver.message("message", params.message)
        super().__init__(params, resolver)

    def describe(self) -> str:
        return f"no {self.msg.name}"

    def evaluate(self, window: Window) -> CheckResult:
        col = window.log.rx_of(self.msg.frame_id)
        i, j = col.span(window.t0, window.t1)
        offender = None
        if j > i:
            offender = Offender(col.ts[i], "first frame", self.msg.frame_id, hexdata(col.data[i]))
        return self.result(
            fail(j == i),
            f"{j - i} {self.msg.name} frame(s) in {window.duration:.3f} s",
            {"frames": j - i},
            {"frames": 0},
            offender,
        )
